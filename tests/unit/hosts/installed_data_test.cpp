// The installer's rules for the data folder: a shipped config installed like a dpkg conffile
// (an edited one is never replaced), the password file written once.
#include "installed_data.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

namespace fs = std::filesystem;
using dmon::host::ConfigUpdate;
using dmon::host::create_file_once;
using dmon::host::install_shipped_configs;

namespace {

class InstalledData : public ::testing::Test {
  protected:
    void SetUp() override {
        root_ = fs::temp_directory_path() /
                ("dmon-installed-data-" + std::to_string(std::random_device{}()));
        shipped_ = root_ / "share";
        data_ = root_ / "data";
        fs::create_directories(shipped_);
    }
    void TearDown() override { fs::remove_all(root_); }

    static void write(const fs::path& path, const std::string& text) {
        std::ofstream(path, std::ios::binary) << text;
    }
    static std::string read(const fs::path& path) {
        std::ifstream in(path, std::ios::binary);
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
    }
    std::vector<ConfigUpdate> install() { return install_shipped_configs(shipped_, data_); }

    fs::path root_;
    fs::path shipped_;
    fs::path data_;
};

}  // namespace

TEST_F(InstalledData, AFirstInstallCopiesTheShippedConfigsAndRecordsThem) {
    write(shipped_ / "agent.yaml", "interval: 5s\n");
    write(shipped_ / "controller.yaml", "interval: 10s\n");
    auto updates = install();
    ASSERT_EQ(updates.size(), 2u);
    for (const auto& update : updates)
        EXPECT_EQ(update.action, ConfigUpdate::Action::installed) << update.file;
    EXPECT_EQ(read(data_ / "agent.yaml"), "interval: 5s\n");
    EXPECT_EQ(read(data_ / "shipped" / "controller.yaml"), "interval: 10s\n");
    EXPECT_FALSE(fs::exists(data_ / "agent.yaml.tmp"));
}

TEST_F(InstalledData, AnUneditedConfigTakesTheNewShippedOne) {
    write(shipped_ / "agent.yaml", "interval: 5s\n");
    install();
    write(shipped_ / "agent.yaml", "interval: 2s\n");
    auto updates = install();
    ASSERT_EQ(updates.size(), 1u);
    EXPECT_EQ(updates[0].action, ConfigUpdate::Action::updated);
    EXPECT_EQ(read(data_ / "agent.yaml"), "interval: 2s\n");
    EXPECT_FALSE(fs::exists(data_ / "agent.yaml.new"));
}

TEST_F(InstalledData, AnEditedConfigIsKeptAndAChangedShippedOneWaitsBesideIt) {
    write(shipped_ / "agent.yaml", "interval: 5s\n");
    install();
    write(data_ / "agent.yaml", "interval: 5s\nnode: edited\n");
    // Same shipped config (a reinstall): kept, nothing written beside it.
    auto updates = install();
    EXPECT_EQ(updates[0].action, ConfigUpdate::Action::kept_edited);
    EXPECT_FALSE(fs::exists(data_ / "agent.yaml.new"));
    // A newer shipped config: still kept, the new one as .new.
    write(shipped_ / "agent.yaml", "interval: 2s\n");
    updates = install();
    EXPECT_EQ(updates[0].action, ConfigUpdate::Action::kept_edited_new_beside);
    EXPECT_EQ(read(data_ / "agent.yaml"), "interval: 5s\nnode: edited\n");
    EXPECT_EQ(read(data_ / "agent.yaml.new"), "interval: 2s\n");
    // The record follows what was shipped, so the next upgrade compares against 2s.
    EXPECT_EQ(read(data_ / "shipped" / "agent.yaml"), "interval: 2s\n");
}

TEST_F(InstalledData, AConfigWithoutARecordCountsAsEdited) {
    fs::create_directories(data_);
    write(data_ / "agent.yaml", "put there by hand\n");
    write(shipped_ / "agent.yaml", "interval: 5s\n");
    auto updates = install();
    EXPECT_EQ(updates[0].action, ConfigUpdate::Action::kept_edited_new_beside);
    EXPECT_EQ(read(data_ / "agent.yaml"), "put there by hand\n");
    EXPECT_EQ(read(data_ / "agent.yaml.new"), "interval: 5s\n");
}

TEST_F(InstalledData, AConfigEqualToTheShippedOneIsUnchanged) {
    fs::create_directories(data_);
    write(data_ / "agent.yaml", "interval: 5s\n");
    write(shipped_ / "agent.yaml", "interval: 5s\n");
    EXPECT_EQ(install()[0].action, ConfigUpdate::Action::unchanged);
}

TEST_F(InstalledData, TheSecretIsWrittenOnceAndNeverReplaced) {
    fs::create_directories(data_);
    EXPECT_TRUE(create_file_once(data_ / "amqp.password", "guest\n"));
    write(data_ / "amqp.password", "s3cret\n");
    EXPECT_FALSE(create_file_once(data_ / "amqp.password", "guest\n"));
    EXPECT_EQ(read(data_ / "amqp.password"), "s3cret\n");
}

TEST_F(InstalledData, AShippedFileTooLargeForAConfigIsRefused) {
    write(shipped_ / "huge.yaml", std::string(5u << 20, 'x'));
    EXPECT_THROW(install(), std::runtime_error);
}
