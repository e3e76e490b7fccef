#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "common/fd.h"
#include "config/imds.h"
#include "support/fake_clock.h"
#include "support/fake_http_server.h"

using dsvm::config::CurlHttpClient;
using dsvm::config::ImdsClient;
using dsvm::config::RetryPolicy;
using dsvm::test::FakeClock;
using dsvm::test::FakeHttpServer;
using dsvm::test::hanging;
using dsvm::test::ScriptedResponse;
using std::chrono::milliseconds;
using namespace std::chrono_literals;

namespace {

const std::string k_instance_target = "/metadata/instance?api-version=2021-02-01";

RetryPolicy fast_policy() {
    RetryPolicy policy;
    policy.initial_delay = 100ms;
    policy.max_delay = 250ms;
    policy.deadline = 90s;
    policy.connect_timeout = 1000ms;
    policy.request_timeout = 2000ms;
    return policy;
}

// The backoff window of the retry after `failures` failed tries.
milliseconds window(const RetryPolicy& policy, int failures) {
    milliseconds cap = policy.initial_delay;
    for (int i = 1; i < failures; ++i) {
        cap = std::min(cap * 2, policy.max_delay);
    }
    return std::min(cap, policy.max_delay);
}

milliseconds total(const std::vector<milliseconds>& sleeps) {
    return std::accumulate(sleeps.begin(), sleeps.end(), milliseconds(0));
}

std::string document() {
    return dsvm::test::imds_document({{"dsvm-share", "//acct.file.core.windows.net/dsvmshare"}},
                                     R"({"dsvmPool":{}})");
}

// An in-memory HttpClient that answers each try with the next status, then `after` forever.
class ScriptedHttp final : public dsvm::config::HttpClient {
  public:
    ScriptedHttp(std::vector<long> statuses, long after)
        : m_statuses(std::move(statuses)), m_after(after) {}

    dsvm::Result<dsvm::config::HttpResponse> get(const dsvm::config::HttpRequest&) override {
        const long status = m_calls < m_statuses.size() ? m_statuses[m_calls] : m_after;
        ++m_calls;
        return dsvm::config::HttpResponse{status, status == 200 ? document() : R"({"error":"x"})"};
    }
    dsvm::Result<long> get_secret(const dsvm::config::HttpRequest&, dsvm::SecretBytes&) override {
        return dsvm::failure("not used by the metadata client");
    }

  private:
    std::vector<long> m_statuses;
    long m_after;
    std::size_t m_calls = 0;
};

// Moves the fake clock on by the real time each request took, so a deadline bounds requests that
// really wait (timeouts) as it would in production.
class ClockAdvancingHttp final : public dsvm::config::HttpClient {
  public:
    ClockAdvancingHttp(dsvm::config::HttpClient& inner, FakeClock& clock)
        : m_inner(inner), m_clock(clock) {}

    dsvm::Result<dsvm::config::HttpResponse> get(
        const dsvm::config::HttpRequest& request) override {
        const auto started = std::chrono::steady_clock::now();
        auto response = m_inner.get(request);
        m_clock.advance(
            std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - started));
        return response;
    }
    dsvm::Result<long> get_secret(const dsvm::config::HttpRequest& request,
                                  dsvm::SecretBytes& body) override {
        return m_inner.get_secret(request, body);
    }

  private:
    dsvm::config::HttpClient& m_inner;
    FakeClock& m_clock;
};

// Routes the default logger into a ring buffer for one scope: to count lines, and to keep the
// retry warnings of other tests out of the test output.
class CapturedLog {
  public:
    CapturedLog()
        : m_sink(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000)),
          m_previous(spdlog::default_logger()) {
        auto logger = std::make_shared<spdlog::logger>("captured", m_sink);
        logger->set_level(spdlog::level::trace);
        spdlog::set_default_logger(logger);
    }
    CapturedLog(const CapturedLog&) = delete;
    CapturedLog& operator=(const CapturedLog&) = delete;
    ~CapturedLog() { spdlog::set_default_logger(m_previous); }

    std::vector<std::string> lines(spdlog::level::level_enum level) const {
        std::vector<std::string> found;
        for (const auto& message : m_sink->last_raw()) {
            if (message.level == level) {
                found.emplace_back(message.payload.data(), message.payload.size());
            }
        }
        return found;
    }

  private:
    std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> m_sink;
    std::shared_ptr<spdlog::logger> m_previous;
};

}  // namespace

// ---- parsing ----------------------------------------------------------------------------------

TEST_CASE("imds: parse takes the compute fields of a realistic document", "[imds]") {
    const auto metadata = dsvm::config::parse_instance_metadata(dsvm::test::imds_document(
        {{"dsvm-share", "//acct.file.core.windows.net/dsvmshare"}, {"dsvm-users", "alice,bob"}},
        R"({"dsvmPool":{"interval":60}})"));

    REQUIRE(metadata.ok());
    CHECK(metadata->name == "pool_3");
    CHECK(metadata->vm_id == "02aab8a4-74ef-476e-8182-f6d2ba4166a6");
    CHECK(metadata->scale_set == "pool");
    CHECK(metadata->resource_group == "dsvm-pool-rg");
    CHECK(metadata->subscription_id == "8d10da13-8125-4ba9-a717-bf7490507b3d");
    CHECK(metadata->os_type == "Linux");
    REQUIRE(metadata->tags.size() == 2);
    CHECK(metadata->tags[0].name == "dsvm-share");
    CHECK(metadata->tags[0].value == "//acct.file.core.windows.net/dsvmshare");
    CHECK(metadata->tags[1].name == "dsvm-users");
    CHECK(metadata->tags[1].value == "alice,bob");
    CHECK(metadata->user_data == R"({"dsvmPool":{"interval":60}})");
}

TEST_CASE("imds: tags come from tagsList, not the joined tags string", "[imds]") {
    // Given a value holding the separators of the "tags" string, we expect it intact.
    const auto metadata = dsvm::config::parse_instance_metadata(R"({"compute": {
        "tags": "decoy:1;other:2",
        "tagsList": [
            {"name": "dsvm-share", "value": "nfs.example:/export;a:b"},
            {"name": "empty", "value": ""}
        ]}})");

    REQUIRE(metadata.ok());
    REQUIRE(metadata->tags.size() == 2);
    CHECK(metadata->tags[0].name == "dsvm-share");
    CHECK(metadata->tags[0].value == "nfs.example:/export;a:b");
    CHECK(metadata->tags[1].name == "empty");
    CHECK(metadata->tags[1].value.empty());
}

TEST_CASE("imds: userData is base64-decoded", "[imds]") {
    const std::string user_data = std::string("#cloud-config\n\0\xff binary", 21);
    const auto metadata = dsvm::config::parse_instance_metadata(
        R"({"compute":{"userData":")" + dsvm::test::encode_base64(user_data) + R"("}})");

    REQUIRE(metadata.ok());
    CHECK(metadata->user_data == user_data);
}

TEST_CASE("imds: absent optional fields are empty", "[imds]") {
    const std::string text =
        GENERATE(as<std::string>{}, R"({"compute":{}})", R"({"compute":{"userData":""}})",
                 R"({"compute":{"userData":null,"name":null}})",
                 R"({"compute":{"tagsList":[]},"network":{}})");
    CAPTURE(text);

    const auto metadata = dsvm::config::parse_instance_metadata(text);

    REQUIRE(metadata.ok());
    CHECK(metadata->user_data.empty());
    CHECK(metadata->name.empty());
    CHECK(metadata->tags.empty());
}

TEST_CASE("imds: fields of the wrong type are errors naming the field", "[imds]") {
    const auto [text, expected] = GENERATE(table<std::string, std::string>({
        {R"({"compute":{"name":42}})", "compute.name is a number, expected a string"},
        {R"({"compute":{"vmId":{}}})", "compute.vmId is an object"},
        {R"({"compute":{"vmScaleSetName":true}})", "compute.vmScaleSetName is a boolean"},
        {R"({"compute":{"osType":["Linux"]}})", "compute.osType is an array"},
        {R"({"compute":{"tagsList":"a:b"}})", "compute.tagsList is a string, expected an array"},
        {R"({"compute":{"tagsList":[1]}})", "compute.tagsList[0] is a number"},
        {R"({"compute":{"tagsList":[{"name":"a","value":"b"},{"name":"c"}]}})",
         "compute.tagsList[1].value is missing"},
        {R"({"compute":{"tagsList":[{"name":7,"value":"b"}]}})",
         "compute.tagsList[0].name is missing or not a string"},
        {R"({"compute":{"userData":5}})", "compute.userData is a number"},
        {R"({"compute":{"userData":"not base64!"}})", "compute.userData: invalid base64"},
        {R"({"compute":[]})", "compute is an array, expected an object"},
        {R"({"network":{}})", "no \"compute\" object"},
    }));
    CAPTURE(text);

    const auto metadata = dsvm::config::parse_instance_metadata(text);

    REQUIRE_FALSE(metadata.ok());
    CHECK(metadata.error().kind == dsvm::ErrorKind::Runtime);
    CHECK_THAT(metadata.error().message, Catch::Contains(expected));
}

TEST_CASE("imds: hostile input fails cleanly", "[imds]") {
    constexpr std::size_t k_depth = 200000;
    const std::string deep = std::string(k_depth, '[') + std::string(k_depth, ']');
    const auto [text, expected] = GENERATE_COPY(table<std::string, std::string>({
        {"", "not valid JSON"},
        {"   ", "not valid JSON"},
        {"{", "not valid JSON"},
        {std::string("{\"compute\":{}}\0", 15), "not valid JSON"},
        {std::string("{\"compute\":{}}\0{\"junk\":", 24), "not valid JSON"},
        {"{\"compute\":{\"name\":\"\xff\xfe\"}}", "not valid JSON"},
        {"42", "instance metadata is a number, expected an object"},
        {"\"compute\"", "instance metadata is a string"},
        {"null", "instance metadata is a null"},
        {"[{\"compute\":{}}]", "instance metadata is an array"},
        {deep, "instance metadata is an array"},
        {std::string(k_depth, '['), "not valid JSON"},
        {R"({"compute":{"name":)" + deep + "}}", "compute.name is an array"},
        {R"({"compute":{"name":")" + std::string(4 << 20, 'x'), "not valid JSON"},
    }));
    CAPTURE(text.substr(0, 40));

    const auto metadata = dsvm::config::parse_instance_metadata(text);

    REQUIRE_FALSE(metadata.ok());
    CHECK_THAT(metadata.error().message, Catch::Contains(expected));
    // Messages quote a bounded prefix of what they were given, never all of it.
    CHECK(metadata.error().message.size() < 300);
}

TEST_CASE("imds: a huge string field is carried, not truncated", "[imds]") {
    const std::string name(4 << 20, 'n');

    const auto metadata =
        dsvm::config::parse_instance_metadata(R"({"compute":{"name":")" + name + "\"}}");

    REQUIRE(metadata.ok());
    CHECK(metadata->name.size() == name.size());
}

// ---- base64 -----------------------------------------------------------------------------------

TEST_CASE("imds: base64 decodes padded, unpadded and wrapped input", "[imds]") {
    const auto [encoded, decoded] = GENERATE(table<std::string, std::string>({
        {"", ""},
        {"Zg==", "f"},
        {"Zg", "f"},
        {"Zm8=", "fo"},
        {"Zm8", "fo"},
        {"Zm9v", "foo"},
        {"Zm9vYmFy", "foobar"},
        {"Zm9v\r\nYmFy\n", "foobar"},
        {" Zm 9v\tYg = = ", "foob"},
        {"+/+/", "\xfb\xff\xbf"},
    }));
    CAPTURE(encoded);

    const auto result = dsvm::config::decode_base64(encoded);

    REQUIRE(result.ok());
    CHECK(*result == decoded);
}

TEST_CASE("imds: base64 round-trips every byte value", "[imds]") {
    std::string bytes;
    for (int i = 0; i < 256; ++i) {
        bytes += static_cast<char>(i);
    }
    for (std::size_t length = 0; length <= bytes.size(); length += 37) {
        const std::string input = bytes.substr(bytes.size() - length);
        const auto result = dsvm::config::decode_base64(dsvm::test::encode_base64(input));
        REQUIRE(result.ok());
        CHECK(*result == input);
    }
}

TEST_CASE("imds: invalid base64 is refused with the reason", "[imds]") {
    const auto [encoded, expected] = GENERATE(table<std::string, std::string>({
        {"Zm9v!", "character \"!\" at offset 4"},
        {"Zm9v-_", "character \"-\" at offset 4"},
        {"Z", "truncated"},
        {"Zm9vY", "truncated"},
        {"Zg=", "padding"},
        {"Zg===", "padding"},
        {"Zm9v=", "padding"},
        {"Zg==Zg==", "data after padding"},
        {"Zm\x80v", "character \"?\""},
    }));
    CAPTURE(encoded);

    const auto result = dsvm::config::decode_base64(encoded);

    REQUIRE_FALSE(result.ok());
    CHECK_THAT(result.error().message, Catch::StartsWith("invalid base64: "));
    CHECK_THAT(result.error().message, Catch::Contains(expected));
}

// ---- fetch over real HTTP ---------------------------------------------------------------------

TEST_CASE("imds: three 410s then success", "[imds]") {
    const CapturedLog quiet;
    FakeHttpServer server;
    for (int i = 0; i < 3; ++i) {
        server.enqueue({410, R"({"error":"Gone"})"});
    }
    server.enqueue({200, document()});
    CurlHttpClient http;
    FakeClock clock;
    const RetryPolicy policy = fast_policy();
    ImdsClient client(http, clock, server.base_url(), policy, 42);

    const auto metadata = client.fetch();

    REQUIRE(metadata.ok());
    CHECK(client.attempts() == 4);
    CHECK(metadata->scale_set == "pool");
    REQUIRE(metadata->tags.size() == 1);
    CHECK(metadata->tags[0].value == "//acct.file.core.windows.net/dsvmshare");
    CHECK(metadata->user_data == R"({"dsvmPool":{}})");
    // The windows are 100, 200, then 250 ms (capped); each sleep lies in its window.
    const auto& sleeps = clock.sleeps();
    REQUIRE(sleeps.size() == 3);
    for (std::size_t i = 0; i < sleeps.size(); ++i) {
        const milliseconds cap = window(policy, static_cast<int>(i) + 1);
        CAPTURE(i, sleeps[i].count(), cap.count());
        CHECK(sleeps[i] >= cap / 10);
        CHECK(sleeps[i] <= cap);
    }
    CHECK(window(policy, 1) < window(policy, 2));
    CHECK(window(policy, 3) == policy.max_delay);
    CHECK(server.requests().size() == 4);
}

TEST_CASE("imds: throttling and server errors are retried", "[imds]") {
    const CapturedLog quiet;
    const int status = GENERATE(429, 500, 503, 404);
    CAPTURE(status);
    FakeHttpServer server;
    server.enqueue({status, R"({"error":"try later"})"});
    server.enqueue({200, document()});
    CurlHttpClient http;
    FakeClock clock;
    ImdsClient client(http, clock, server.base_url(), fast_policy(), 7);

    const auto metadata = client.fetch();

    REQUIRE(metadata.ok());
    CHECK(metadata->name == "pool_3");
    CHECK(client.attempts() == 2);
    REQUIRE(clock.sleeps().size() == 1);
    CHECK(clock.sleeps()[0] >= 10ms);
    CHECK(clock.sleeps()[0] <= 100ms);
}

TEST_CASE("imds: persistent 500 fails at the deadline", "[imds]") {
    const CapturedLog quiet;
    FakeHttpServer server;
    server.set_default({500, R"({"error":"Internal error"})"});
    CurlHttpClient http;
    FakeClock clock;
    RetryPolicy policy = fast_policy();
    policy.initial_delay = 200ms;
    policy.max_delay = 1000ms;
    policy.deadline = 5s;
    ImdsClient client(http, clock, server.base_url(), policy, 1);
    const auto start = clock.now();

    const auto metadata = client.fetch();

    REQUIRE_FALSE(metadata.ok());
    const std::string& message = metadata.error().message;
    CHECK_THAT(message, Catch::Contains(std::to_string(client.attempts()) + " tries over 5.0 s"));
    CHECK_THAT(message, Catch::Contains("last failure: HTTP 500"));
    CHECK(client.attempts() > 2);
    CHECK(server.requests().size() == static_cast<std::size_t>(client.attempts()));
    // Fake time only moves by sleeping: the sleeps add up to the deadline exactly, so the last
    // one was cut short to end there, and one last try followed it.
    const auto& sleeps = clock.sleeps();
    CHECK(sleeps.size() == static_cast<std::size_t>(client.attempts() - 1));
    CHECK(total(sleeps) == policy.deadline);
    CHECK(clock.now() - start == policy.deadline);
    CHECK(sleeps.back() <= window(policy, static_cast<int>(sleeps.size())));
}

TEST_CASE("imds: a rejected request fails at once", "[imds]") {
    const int status = GENERATE(400, 403, 405);
    CAPTURE(status);
    FakeHttpServer server;
    server.enqueue({status, R"({"error":"Bad request"})"});
    CurlHttpClient http;
    FakeClock clock;
    ImdsClient client(http, clock, server.base_url(), fast_policy(), 3);

    const auto metadata = client.fetch();

    REQUIRE_FALSE(metadata.ok());
    CHECK(client.attempts() == 1);
    CHECK(clock.sleeps().empty());
    CHECK_THAT(metadata.error().message, Catch::Contains("IMDS rejected the request"));
    CHECK_THAT(metadata.error().message, Catch::Contains("HTTP " + std::to_string(status)));
}

TEST_CASE("imds: connection refused is retried until the deadline", "[imds]") {
    const CapturedLog quiet;
    const auto port = dsvm::test::unused_loopback_port();
    const std::string address = "127.0.0.1:" + std::to_string(port);
    CurlHttpClient http;
    FakeClock clock;
    RetryPolicy policy = fast_policy();
    policy.deadline = 3s;
    ImdsClient client(http, clock, "http://" + address, policy, 11);

    const auto metadata = client.fetch();

    REQUIRE_FALSE(metadata.ok());
    CHECK(client.attempts() > 1);
    CHECK(total(clock.sleeps()) == policy.deadline);
    CHECK_THAT(metadata.error().message, Catch::Contains(address));
    CHECK_THAT(metadata.error().message, Catch::Contains("Couldn't connect to server"));
    CHECK_THAT(metadata.error().message,
               Catch::Contains(std::to_string(client.attempts()) + " tries"));
}

TEST_CASE("imds: a hanging server times out and is retried", "[imds]") {
    // Given a server that accepts and never answers, with a 200 ms request timeout and a 1 s
    // deadline (fake time moved on by each request's real duration), we expect timeouts, retries
    // and a failure after about a second.
    const CapturedLog quiet;
    FakeHttpServer server;
    server.set_default(hanging());
    CurlHttpClient curl;
    FakeClock clock;
    ClockAdvancingHttp http(curl, clock);
    RetryPolicy policy = fast_policy();
    policy.request_timeout = 200ms;
    policy.deadline = 1000ms;
    ImdsClient client(http, clock, server.base_url(), policy, 5);
    const auto started = std::chrono::steady_clock::now();

    const auto metadata = client.fetch();

    REQUIRE_FALSE(metadata.ok());
    CHECK(client.attempts() >= 2);
    CHECK_THAT(metadata.error().message, Catch::Contains("timed out"));
    CHECK(std::chrono::steady_clock::now() - started < 3s);
    CHECK(server.requests().size() == static_cast<std::size_t>(client.attempts()));
}

TEST_CASE("imds: a timeout is followed by a successful retry", "[imds]") {
    const CapturedLog quiet;
    FakeHttpServer server;
    server.enqueue(hanging());
    server.enqueue({200, document()});
    CurlHttpClient http;
    FakeClock clock;
    RetryPolicy policy = fast_policy();
    policy.request_timeout = 200ms;
    ImdsClient client(http, clock, server.base_url(), policy, 5);

    const auto metadata = client.fetch();

    REQUIRE(metadata.ok());
    CHECK(client.attempts() == 2);
    CHECK(metadata->vm_id == "02aab8a4-74ef-476e-8182-f6d2ba4166a6");
}

TEST_CASE("imds: a 200 with invalid JSON fails at once", "[imds]") {
    FakeHttpServer server;
    server.enqueue({200, "<html>captive portal</html>"});
    CurlHttpClient http;
    FakeClock clock;
    ImdsClient client(http, clock, server.base_url(), fast_policy(), 9);

    const auto metadata = client.fetch();

    REQUIRE_FALSE(metadata.ok());
    CHECK(client.attempts() == 1);
    CHECK(clock.sleeps().empty());
    CHECK_THAT(metadata.error().message, Catch::StartsWith("IMDS returned invalid JSON: "));
    CHECK_THAT(metadata.error().message, Catch::Contains("<html>captive portal"));
}

TEST_CASE("imds: a 200 with unusable metadata fails at once", "[imds]") {
    FakeHttpServer server;
    server.enqueue({200, R"({"compute":{"tagsList":"a:b"}})"});
    CurlHttpClient http;
    FakeClock clock;
    ImdsClient client(http, clock, server.base_url(), fast_policy(), 9);

    const auto metadata = client.fetch();

    REQUIRE_FALSE(metadata.ok());
    CHECK(client.attempts() == 1);
    CHECK_THAT(metadata.error().message, Catch::Contains("compute.tagsList is a string"));
}

TEST_CASE("imds: the request is what IMDS requires", "[imds]") {
    FakeHttpServer server;
    server.enqueue({200, document()});
    CurlHttpClient http;
    FakeClock clock;
    // A trailing slash on the base URL must not change the path.
    ImdsClient client(http, clock, server.base_url() + "/", fast_policy(), 1);

    REQUIRE(client.fetch().ok());

    const auto requests = server.requests();
    REQUIRE(requests.size() == 1);
    CHECK(requests[0].method == "GET");
    CHECK(requests[0].target == k_instance_target);
    CHECK(requests[0].headers.at("metadata") == "true");
    CHECK(requests[0].headers.count("x-forwarded-for") == 0);
}

// ---- backoff and logging, with an in-memory client --------------------------------------------

TEST_CASE("imds: jitter stays within its window for many seeds", "[imds]") {
    const CapturedLog quiet;
    RetryPolicy policy;
    policy.initial_delay = 100ms;
    policy.max_delay = 1600ms;
    policy.deadline = 60s;
    constexpr int k_seeds = 300;
    constexpr std::size_t k_checked = 8;
    int out_of_window = 0;
    std::vector<std::vector<milliseconds>> by_try(k_checked);
    std::set<std::vector<milliseconds>> distinct;
    for (int seed = 0; seed < k_seeds; ++seed) {
        ScriptedHttp http({}, 500);
        FakeClock clock;
        ImdsClient client(http, clock, "http://127.0.0.1:9", policy,
                          static_cast<std::uint64_t>(seed));
        REQUIRE_FALSE(client.fetch().ok());
        const auto& sleeps = clock.sleeps();
        REQUIRE(sleeps.size() > k_checked);
        // The last sleep is cut to the deadline, so only the ones before it are checked.
        for (std::size_t i = 0; i + 1 < sleeps.size(); ++i) {
            const milliseconds cap = window(policy, static_cast<int>(i) + 1);
            if (sleeps[i] < cap / 10 || sleeps[i] > cap) {
                ++out_of_window;
            }
            if (i < k_checked) {
                by_try[i].push_back(sleeps[i]);
            }
        }
        CHECK(total(sleeps) == policy.deadline);
        distinct.insert(std::vector<milliseconds>(sleeps.begin(), sleeps.begin() + 3));
    }
    CHECK(out_of_window == 0);
    // Different seeds spread out; the delays grow with the window and fill it.
    CHECK(distinct.size() > static_cast<std::size_t>(k_seeds * 9 / 10));
    const auto mean = [](const std::vector<milliseconds>& values) {
        return total(values).count() / static_cast<double>(values.size());
    };
    CHECK(mean(by_try[0]) < mean(by_try[2]));
    CHECK(mean(by_try[2]) < mean(by_try[4]));
    const auto [low, high] = std::minmax_element(by_try[7].begin(), by_try[7].end());
    CHECK(*low < 400ms);
    CHECK(*high > 1400ms);
}

TEST_CASE("imds: one seed gives one sequence, and fetches do not repeat it", "[imds]") {
    const CapturedLog quiet;
    const auto sleeps_of = [](ImdsClient& client, FakeClock& clock) {
        const std::size_t before = clock.sleeps().size();
        REQUIRE_FALSE(client.fetch().ok());
        return std::vector<milliseconds>(clock.sleeps().begin() + static_cast<long>(before),
                                         clock.sleeps().end());
    };
    ScriptedHttp http_a({}, 503);
    ScriptedHttp http_b({}, 503);
    FakeClock clock_a;
    FakeClock clock_b;
    ImdsClient client_a(http_a, clock_a, "http://127.0.0.1:9", fast_policy(), 1234);
    ImdsClient client_b(http_b, clock_b, "http://127.0.0.1:9", fast_policy(), 1234);

    const auto first_a = sleeps_of(client_a, clock_a);
    const auto first_b = sleeps_of(client_b, clock_b);
    const auto second_a = sleeps_of(client_a, clock_a);

    CHECK(first_a == first_b);
    CHECK(first_a != second_a);
}

TEST_CASE("imds: a failure streak logs one warning, not one per try", "[imds]") {
    CapturedLog log;
    ScriptedHttp http({410, 410, 503, 429, 500}, 200);
    FakeClock clock;
    ImdsClient client(http, clock, "http://127.0.0.1:9", fast_policy(), 77);

    REQUIRE(client.fetch().ok());

    CHECK(client.attempts() == 6);
    const auto warnings = log.lines(spdlog::level::warn);
    REQUIRE(warnings.size() == 1);
    CHECK_THAT(warnings[0], Catch::StartsWith("instance metadata not reachable yet (HTTP 410"));
    CHECK_THAT(warnings[0], Catch::EndsWith("retrying for up to 90 s"));
    CHECK(log.lines(spdlog::level::debug).size() == 5);
    const auto infos = log.lines(spdlog::level::info);
    REQUIRE(infos.size() == 1);
    CHECK_THAT(infos[0], Catch::Contains("after 6 tries"));
}

TEST_CASE("imds: giving up logs one warning and no recovery", "[imds]") {
    CapturedLog log;
    ScriptedHttp http({}, 500);
    FakeClock clock;
    RetryPolicy policy = fast_policy();
    policy.deadline = 3s;
    ImdsClient client(http, clock, "http://127.0.0.1:9", policy, 77);

    REQUIRE_FALSE(client.fetch().ok());

    CHECK(client.attempts() > 5);
    CHECK(log.lines(spdlog::level::warn).size() == 1);
    CHECK(log.lines(spdlog::level::info).empty());
}

TEST_CASE("imds: a first-try success logs nothing above debug", "[imds]") {
    CapturedLog log;
    ScriptedHttp http({}, 200);
    FakeClock clock;
    ImdsClient client(http, clock, "http://127.0.0.1:9", fast_policy(), 77);

    REQUIRE(client.fetch().ok());

    CHECK(client.attempts() == 1);
    CHECK(log.lines(spdlog::level::warn).empty());
    CHECK(log.lines(spdlog::level::info).empty());
}

TEST_CASE("imds: a zero deadline makes exactly one try", "[imds]") {
    const CapturedLog quiet;
    ScriptedHttp http({}, 410);
    FakeClock clock;
    RetryPolicy policy = fast_policy();
    policy.deadline = 0ms;
    ImdsClient client(http, clock, "http://127.0.0.1:9", policy, 2);

    const auto metadata = client.fetch();

    REQUIRE_FALSE(metadata.ok());
    CHECK(client.attempts() == 1);
    CHECK(clock.sleeps().empty());
    CHECK_THAT(metadata.error().message, Catch::Contains("after 1 try over"));
}

TEST_CASE("imds: a stop ends the retries within a fraction of a second, with the last failure",
          "[imds]") {
    // Given a metadata service that answers 410 and a stop that comes 1 s into the retries, we
    // expect no try after it and the wait cut short, not the 90 s deadline.
    const CapturedLog quiet;
    ScriptedHttp http({}, 410);
    FakeClock clock;
    RetryPolicy policy = fast_policy();
    policy.max_delay = 8000ms;
    const auto start = clock.now();
    policy.give_up = [&] { return clock.now() - start >= 1s; };
    ImdsClient client(http, clock, "http://127.0.0.1:9", policy, 2);

    const auto metadata = client.fetch();

    REQUIRE_FALSE(metadata.ok());
    CHECK_THAT(metadata.error().message,
               Catch::Contains("the service is stopping") && Catch::Contains("HTTP 410"));
    CHECK(clock.now() - start < 1500ms);
    const int tries = client.attempts();
    CHECK(tries >= 1);
    // Without a stop the same service is tried until the deadline.
    RetryPolicy patient = fast_policy();
    FakeClock other;
    ImdsClient waiting(http, other, "http://127.0.0.1:9", patient, 2);
    CHECK_FALSE(waiting.fetch().ok());
    CHECK(waiting.attempts() > tries);
}

TEST_CASE("imds: a streak spans fetches: one warning for a long outage, one line when it ends",
          "[imds]") {
    CapturedLog log;
    // given a deadline of 2 s, each fetch makes a handful of tries; three fetches fail
    ScriptedHttp http(std::vector<long>(60, 503), 200);
    FakeClock clock;
    RetryPolicy policy = fast_policy();
    policy.deadline = 2s;
    ImdsClient client(http, clock, "http://127.0.0.1:9", policy, 5);

    REQUIRE_FALSE(client.fetch().ok());
    REQUIRE_FALSE(client.fetch().ok());
    CHECK(client.failed_fetches() == 2);
    CHECK(log.lines(spdlog::level::warn).size() == 1);

    // Drain the scripted failures, then the service answers.
    while (!client.fetch().ok()) {
    }
    CHECK(client.failed_fetches() == 0);
    CHECK(log.lines(spdlog::level::warn).size() == 1);
    const auto infos = log.lines(spdlog::level::info);
    REQUIRE(infos.size() == 1);
    CHECK_THAT(infos[0], Catch::Contains("reachable again"));
}
