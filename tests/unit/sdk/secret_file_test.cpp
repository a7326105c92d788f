// The one rule for files that hold secrets (sdk/include/dmon/secret_file.hpp), on real files.
#include <dmon/secret_file.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

class SecretFileTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char pattern[] = "/tmp/dmon-secret-test-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        folder_ = pattern;
    }
    void TearDown() override { std::filesystem::remove_all(folder_); }

    std::string write(const std::string& name, const std::string& text, mode_t mode) {
        const std::string path = folder_ + "/" + name;
        std::FILE* out = std::fopen(path.c_str(), "wb");
        std::fwrite(text.data(), 1, text.size(), out);
        std::fclose(out);
        ::chmod(path.c_str(), mode);
        return path;
    }

    std::string folder_;
};

TEST_F(SecretFileTest, TheFirstLineWithoutItsEndIsTheSecret) {
    const std::string path = write("password", "s3cret \r\nsecond line\n", 0600);
    EXPECT_EQ(dmon::secret_file_problem(path, "password_file"), "");
    EXPECT_EQ(dmon::read_secret_file(path, "password_file"), "s3cret");
}

TEST_F(SecretFileTest, AFileOthersMayReadIsRefusedWithItsMode) {
    const std::string path = write("password", "s3cret\n", 0640);
    EXPECT_EQ(dmon::secret_file_problem(path, "password_file"),
              "password_file " + path + " may be read by others (mode 0640): chmod 600 it");
    EXPECT_THROW(dmon::read_secret_file(path, "password_file"), std::invalid_argument);
}

TEST_F(SecretFileTest, AnEmptyOrMissingFileIsRefused) {
    const std::string empty = write("empty", "\n", 0600);
    try {
        dmon::read_secret_file(empty, "token_file");
        FAIL() << "an empty secret was accepted";
    } catch (const std::invalid_argument& error) {
        EXPECT_EQ(std::string(error.what()), "token_file " + empty + " is empty");
    }
    EXPECT_EQ(dmon::secret_file_problem(folder_ + "/absent", "token_file"),
              "token_file " + folder_ + "/absent: No such file or directory");
}

// The package's layout: /etc/dmon/amqp.password belongs to the dmon user, and root runs
// `dmon check` on it before the unit starts. Another (non-root) user is still refused.
TEST_F(SecretFileTest, RootMayReadItsServiceUsersSecretOthersMayNot) {
    if (::geteuid() != 0)
        GTEST_SKIP() << "needs root to give a file to another user";
    const std::string path = write("password", "s3cret\n", 0600);
    ASSERT_EQ(::chown(path.c_str(), 65534, 65534), 0);
    EXPECT_EQ(dmon::secret_file_problem(path, "password_file"), "");
    EXPECT_EQ(dmon::read_secret_file(path, "password_file"), "s3cret");
    // Another user (nobody) may not read a secret that is not theirs, though root owns it.
    ASSERT_EQ(::chown(path.c_str(), 1234, 1234), 0);
    ASSERT_EQ(::chmod(folder_.c_str(), 0711), 0);  // nobody may look the file up, not list
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        if (::setgid(65534) != 0 || ::setuid(65534) != 0)
            ::_exit(3);
        const std::string problem = dmon::secret_file_problem(path, "password_file");
        ::_exit(problem == "password_file " + path + " belongs to another user (uid 1234)" ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "3: could not become nobody; 1: the rule did not refuse";
}

}  // namespace
