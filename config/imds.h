// Azure Instance Metadata Service client (docs/operation.md, "Instance metadata").
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "config/http.h"

namespace dsvm::config {

struct ImdsTag {
    std::string name;
    std::string value;
};

// The parts of compute metadata the agent uses. user_data is already base64-decoded.
struct InstanceMetadata {
    std::string name;
    std::string vm_id;
    std::string scale_set;
    std::string resource_group;
    std::string subscription_id;
    std::string os_type;
    std::vector<ImdsTag> tags;
    std::string user_data;
};

// Parses the JSON of GET /metadata/instance. Fails (Runtime) on invalid JSON, a missing or
// non-object "compute", a malformed tagsList, or userData that is not valid base64.
Result<InstanceMetadata> parse_instance_metadata(std::string_view json);

// Decodes standard base64 (RFC 4648, padding optional, whitespace ignored).
Result<std::string> decode_base64(std::string_view text);

struct RetryPolicy {
    std::chrono::milliseconds initial_delay{500};
    std::chrono::milliseconds max_delay{8000};
    // Give up after this long in all. IMDS answers 410 for up to 70 s after boot.
    std::chrono::milliseconds deadline{90000};
    std::chrono::milliseconds connect_timeout{2000};
    std::chrono::milliseconds request_timeout{5000};
    // Asked between tries and while waiting for the next: true ends the retries at once (the
    // service is stopping). Unset: the retries go on to the deadline.
    std::function<bool()> give_up;
};

// The wait before the next try after `failures` failed ones: full jitter over a window of
// initial_delay * 2^(failures-1), capped at max_delay, never below a tenth of the window.
std::chrono::milliseconds retry_delay(const RetryPolicy& policy, int failures,
                                      std::mt19937_64& random);

// Sets the timeouts of one try: the policy's, cut to what `remaining` leaves before the
// deadline (a try must not outlive it by a whole timeout), but never below 100 ms, so the last
// try can still succeed.
void limit_try(HttpRequest& request, const RetryPolicy& policy,
               std::chrono::steady_clock::duration remaining);

// Fetches instance metadata with bounded retries: 404, 410, 429, 5xx and transport failures
// (refused, timeout) are retried with capped exponential backoff and full jitter until the
// deadline; 400 and other 4xx, and a 200 with an unparseable body, fail at once. Logs one
// warning when a failure streak begins and one line when it ends, not one per try; a streak
// spans fetches, so a daemon polling a dead IMDS does not warn on every pass.
class ImdsClient {
  public:
    // base_url like "http://169.254.169.254" (no trailing path). seed drives the jitter.
    ImdsClient(HttpClient& http, Clock& clock, std::string base_url, RetryPolicy policy,
               std::uint64_t seed);

    Result<InstanceMetadata> fetch();

    // How many HTTP requests the last fetch() made (for tests and status).
    int attempts() const { return m_attempts; }
    // How many fetches in a row have given up (0 after a success).
    int failed_fetches() const { return m_failed_fetches; }

  private:
    HttpClient& m_http;
    Clock& m_clock;
    std::string m_base_url;
    RetryPolicy m_policy;
    std::uint64_t m_seed;
    int m_attempts = 0;
    int m_failed_fetches = 0;
};

}  // namespace dsvm::config
