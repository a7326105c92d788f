// prometheus_remote_write: sends every batch to a Prometheus remote-write receiver (Prometheus
// with --web.enable-remote-write-receiver, Mimir, Thanos, VictoriaMetrics...) as one request,
// protobuf + snappy, over HTTP(S) with libcurl. It keeps nothing of its own: the host's runner
// batches, keeps what failed (in memory or in the spool) and retries. A 5xx or a network error
// is a failed write (retried); a 4xx other than 429 says the request can never succeed (an
// out-of-order sample, a bad label): write() returns DMON_INVALID with the server's message and
// the host drops the batch, counts it (dmon.sink.dropped{reason=refused}) and logs it.
#include "prometheus_common/credentials.hpp"
#include "write_request.hpp"

#include <dmon/plugin.hpp>
#include <dmon/secret_file.hpp>
#include <dmon/str.hpp>

#include <curl/curl.h>

#include <memory>
#include <mutex>

namespace dmon::plugins::prometheus {

constexpr dmon_option_decl kOptions[] = {
    sdk::option("url", DMON_OPT_STRING, nullptr,
                "the receiver, e.g. http://127.0.0.1:9090/api/v1/write", true),
    sdk::option("timeout", DMON_OPT_DURATION, "30s", "for one request, connecting included"),
    // Sent to the receiver.
    DMON_PROMETHEUS_CREDENTIAL_OPTIONS,
    sdk::option("tls_ca", DMON_OPT_STRING, nullptr,
                "PEM file of the CA(s) that signed the receiver's certificate (default: the "
                "system's)"),
    sdk::option("tls_cert", DMON_OPT_STRING, nullptr, "PEM client certificate (mutual TLS)"),
    sdk::option("tls_key", DMON_OPT_STRING, nullptr, "PEM private key of tls_cert"),
    sdk::option("headers", DMON_OPT_STRING_LIST, nullptr,
                "extra headers, each \"Name: value\" (e.g. \"X-Scope-OrgID: team-a\")"),
    sdk::option("metadata", DMON_OPT_BOOL, "true", "send each family's type, unit and help"),
};

namespace {

constexpr size_t kErrorBodyLimit = 4096;  // of a server's answer, what is kept for the log

struct CurlDeleter {
    void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct ListDeleter {
    void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

size_t keep_answer(char* data, size_t size, size_t count, void* user) {
    auto* answer = static_cast<std::string*>(user);
    const size_t bytes = size * count;
    if (answer->size() < kErrorBodyLimit)
        answer->append(data, std::min(bytes, kErrorBodyLimit - answer->size()));
    return bytes;  // the rest is read and forgotten: a huge answer costs no memory
}

void global_init() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

class RemoteWrite : public sdk::Sink {
  public:
    explicit RemoteWrite(const sdk::Context& context)
        : host_(context.host),
          url_(context.options.string_value("url")),
          metadata_(context.options.bool_value("metadata")) {
        const auto& options = context.options;
        if (url_.rfind("http://", 0) != 0 && url_.rfind("https://", 0) != 0)
            throw sdk::InvalidInput("url must start with http:// or https://; got '" +
                                    escape_text(url_, 100) + "'");
        global_init();
        curl_.reset(curl_easy_init());
        if (!curl_)
            throw std::runtime_error("libcurl could not make a handle");
        CURL* curl = curl_.get();
        curl_easy_setopt(curl, CURLOPT_URL, url_.c_str());
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                         static_cast<long>(options.duration_value_ns("timeout") / 1000000));
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &keep_answer);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer_);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error_);
        add_header("Content-Encoding: snappy");
        add_header("Content-Type: application/x-protobuf");
        add_header("X-Prometheus-Remote-Write-Version: 0.1.0");
        add_header("User-Agent: dmon/1.0");
        credentials_ = read_credentials(options, [](const std::string& path) {
            return read_secret_file(path, "bearer_token_file");
        });
        if (credentials_.token)
            add_header("Authorization: Bearer " + *credentials_.token);
        if (credentials_.user) {
            curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
            curl_easy_setopt(curl, CURLOPT_USERNAME, credentials_.user->c_str());
            curl_easy_setopt(curl, CURLOPT_PASSWORD, credentials_.password.c_str());
        }
        for (const std::string& header : options.list("headers")) {
            const size_t colon = header.find(':');
            if (colon == std::string::npos || colon == 0 ||
                header.find_first_of("\r\n") != std::string::npos)
                throw sdk::InvalidInput("headers: each is \"Name: value\" on one line; got '" +
                                        escape_text(header, 100) + "'");
            add_header(header);
        }
        tls_ca_ = options.string("tls_ca").value_or("");
        tls_cert_ = options.string("tls_cert").value_or("");
        tls_key_ = options.string("tls_key").value_or("");
        if (tls_cert_.empty() != tls_key_.empty())
            throw sdk::InvalidInput("tls_cert and tls_key go together: set both or neither");
        if (!tls_ca_.empty())
            curl_easy_setopt(curl, CURLOPT_CAINFO, tls_ca_.c_str());
        if (!tls_cert_.empty()) {
            curl_easy_setopt(curl, CURLOPT_SSLCERT, tls_cert_.c_str());
            curl_easy_setopt(curl, CURLOPT_SSLKEY, tls_key_.c_str());
        }
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers_.get());
        if (url_.rfind("http://", 0) == 0 && credentials_.any())
            host_.warn("sending credentials to " + url_ + " without TLS");
        host_.info("remote write to " + url_);
    }

    void write(const sdk::Batch& batch) override {
        const dmon_batch* raw = batch.raw();
        const EncodedRequest request =
            encode_write_request(raw->samples, raw->sample_count, raw->sample_size, metadata_);
        CURL* curl = curl_.get();
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(request.body.size()));
        answer_.clear();
        curl_error_[0] = '\0';
        const CURLcode result = curl_easy_perform(curl);
        if (result != CURLE_OK)
            throw std::runtime_error(
                std::string("remote write to ") + url_ + ": " +
                (curl_error_[0] != '\0' ? curl_error_ : curl_easy_strerror(result)));
        long status = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && status < 300)
            return;
        std::string message = "remote write to " + url_ + ": HTTP " + std::to_string(status);
        std::string said = answer_;
        while (!said.empty() && (said.back() == '\n' || said.back() == '\r'))
            said.pop_back();
        if (!said.empty())
            message += ": " + escape_text(said, 300);
        // 4xx: this request will never be accepted (429 asks to slow down: retried).
        if (status >= 400 && status < 500 && status != 429)
            throw sdk::InvalidInput(message + " (" + std::to_string(request.samples) +
                                    " samples of " + std::to_string(request.series) +
                                    " series not retried)");
        throw std::runtime_error(message);
    }

  private:
    void add_header(const std::string& header) {
        curl_slist* list = curl_slist_append(headers_.get(), header.c_str());
        if (list == nullptr)
            throw std::runtime_error("out of memory adding a header");
        headers_.release();
        headers_.reset(list);
    }

    sdk::Host host_;
    std::string url_;
    bool metadata_;
    Credentials credentials_;  // curl keeps pointers to the user and password
    std::string tls_ca_, tls_cert_, tls_key_;
    std::unique_ptr<CURL, CurlDeleter> curl_;
    std::unique_ptr<curl_slist, ListDeleter> headers_;
    std::string answer_;
    char curl_error_[CURL_ERROR_SIZE] = {};
};

}  // namespace dmon::plugins::prometheus

DMON_SINK_PLUGIN(dmon::plugins::prometheus::RemoteWrite, "prometheus_remote_write", "1.0.0",
                 "sends samples to a Prometheus remote-write receiver (protobuf, snappy)",
                 dmon::plugins::prometheus::kOptions)
