#include "config/imds.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <random>

#include <nlohmann/json.hpp>

namespace dsvm::config {

namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr std::string_view k_instance_path = "/metadata/instance?api-version=2021-02-01";
// Bodies and peer text quoted in messages are cut here: enough to recognise, too little to flood.
constexpr std::size_t k_max_quote = 120;
// How often a wait for the next try asks whether to give up.
constexpr std::chrono::milliseconds k_stop_check{250};
// A per-try timeout is never cut below this by the deadline, so the last try can still succeed.
constexpr milliseconds k_min_try_timeout{100};

std::string quote(std::string_view text) {
    std::string out = "\"";
    for (const char c : text.substr(0, k_max_quote)) {
        const auto byte = static_cast<unsigned char>(c);
        out += (byte >= 0x20 && byte < 0x7f) ? c : '?';
    }
    out += text.size() > k_max_quote ? "\"..." : "\"";
    return out;
}

// "an array", "a string": for messages about a value of the wrong type.
std::string type_name(const json& value) {
    const std::string name = value.type_name();
    return (name == "array" || name == "object" ? "an " : "a ") + name;
}

// A missing or null field is left empty; a field of the wrong type is an error naming it.
Result<void> take_string(const json& compute, const char* key, std::string& out) {
    const auto found = compute.find(key);
    if (found == compute.end() || found->is_null()) {
        return {};
    }
    if (!found->is_string()) {
        return failure(std::string("compute.") + key + " is " + type_name(*found) +
                       ", expected a string");
    }
    out = found->get<std::string>();
    return {};
}

Result<std::vector<ImdsTag>> take_tags(const json& compute) {
    std::vector<ImdsTag> tags;
    const auto found = compute.find("tagsList");
    if (found == compute.end() || found->is_null()) {
        return tags;
    }
    if (!found->is_array()) {
        return failure("compute.tagsList is " + type_name(*found) + ", expected an array");
    }
    for (std::size_t i = 0; i < found->size(); ++i) {
        const json& entry = (*found)[i];
        const std::string where = "compute.tagsList[" + std::to_string(i) + "]";
        if (!entry.is_object()) {
            return failure(where + " is " + type_name(entry) + ", expected an object");
        }
        const auto name = entry.find("name");
        const auto value = entry.find("value");
        if (name == entry.end() || !name->is_string()) {
            return failure(where + ".name is missing or not a string");
        }
        if (value == entry.end() || !value->is_string()) {
            return failure(where + ".value is missing or not a string");
        }
        tags.push_back(ImdsTag{name->get<std::string>(), value->get<std::string>()});
    }
    return tags;
}

Result<InstanceMetadata> from_document(const json& document) {
    if (!document.is_object()) {
        return failure("instance metadata is " + type_name(document) + ", expected an object");
    }
    const auto compute = document.find("compute");
    if (compute == document.end()) {
        return failure("instance metadata has no \"compute\" object");
    }
    if (!compute->is_object()) {
        return failure("compute is " + type_name(*compute) + ", expected an object");
    }
    InstanceMetadata metadata;
    const std::array<std::pair<const char*, std::string*>, 6> fields = {{
        {"name", &metadata.name},
        {"vmId", &metadata.vm_id},
        {"vmScaleSetName", &metadata.scale_set},
        {"resourceGroupName", &metadata.resource_group},
        {"subscriptionId", &metadata.subscription_id},
        {"osType", &metadata.os_type},
    }};
    for (const auto& [key, out] : fields) {
        if (auto taken = take_string(*compute, key, *out); !taken) {
            return taken.error();
        }
    }
    auto tags = take_tags(*compute);
    if (!tags) {
        return tags.error();
    }
    metadata.tags = std::move(tags).value();

    std::string encoded;
    if (auto taken = take_string(*compute, "userData", encoded); !taken) {
        return taken.error();
    }
    auto decoded = decode_base64(encoded);
    if (!decoded) {
        return with_context("compute.userData", decoded.error());
    }
    metadata.user_data = std::move(decoded).value();
    return metadata;
}

json parse_json(std::string_view text) {
    // JSON never holds a raw NUL, but nlohmann's lexer takes one as the end of input, which
    // would accept "{...}\0anything".
    if (text.find('\0') != std::string_view::npos) {
        return json(json::value_t::discarded);
    }
    // Exceptions off: malformed input from the network is an expected failure, not a fatal one.
    return json::parse(text.begin(), text.end(), nullptr, false);
}

std::string describe_invalid_json(std::string_view text) {
    return std::to_string(text.size()) + " bytes starting " + quote(text);
}

std::string seconds_text(std::chrono::steady_clock::duration duration) {
    const double seconds = std::chrono::duration<double>(duration).count();
    return fmt::format("{:.1f} s", seconds);
}

bool is_retryable_status(long status) {
    return status == 404 || status == 410 || status == 429 || (status >= 500 && status <= 599);
}

// The window for the retry after `failures` failed tries: initial * 2^(failures-1), capped.
milliseconds backoff_cap_of(const RetryPolicy& policy, int failures) {
    milliseconds cap = std::max(policy.initial_delay, milliseconds(1));
    for (int i = 1; i < failures && cap < policy.max_delay; ++i) {
        cap *= 2;
    }
    return std::clamp(cap, milliseconds(1), std::max(policy.max_delay, milliseconds(1)));
}

}  // namespace

// Full jitter spreads a fleet that booted together; the 10% floor keeps a try from following the
// last one at once, which would only burn the IMDS rate limit.
milliseconds retry_delay(const RetryPolicy& policy, int failures, std::mt19937_64& random) {
    const milliseconds cap = backoff_cap_of(policy, failures);
    const milliseconds floor = std::max(cap / 10, milliseconds(1));
    std::uniform_int_distribution<milliseconds::rep> pick(floor.count(), cap.count());
    return milliseconds(pick(random));
}

void limit_try(HttpRequest& request, const RetryPolicy& policy,
               std::chrono::steady_clock::duration remaining) {
    const milliseconds budget =
        std::min(policy.request_timeout,
                 std::max(std::chrono::duration_cast<milliseconds>(remaining), k_min_try_timeout));
    request.total_timeout = budget;
    request.connect_timeout = std::min(policy.connect_timeout, budget);
}

Result<InstanceMetadata> parse_instance_metadata(std::string_view json_text) {
    const json document = parse_json(json_text);
    if (document.is_discarded()) {
        return failure("instance metadata is not valid JSON (" + describe_invalid_json(json_text) +
                       ")");
    }
    return from_document(document);
}

Result<std::string> decode_base64(std::string_view text) {
    std::string out;
    out.reserve(text.size() / 4 * 3);
    std::uint32_t bits = 0;
    int pending = 0;
    std::size_t symbols = 0;
    std::size_t padding = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            continue;
        }
        if (c == '=') {
            ++padding;
            continue;
        }
        if (padding > 0) {
            return failure("invalid base64: data after padding at offset " + std::to_string(i));
        }
        int value = -1;
        if (c >= 'A' && c <= 'Z') {
            value = c - 'A';
        } else if (c >= 'a' && c <= 'z') {
            value = c - 'a' + 26;
        } else if (c >= '0' && c <= '9') {
            value = c - '0' + 52;
        } else if (c == '+') {
            value = 62;
        } else if (c == '/') {
            value = 63;
        } else {
            return failure("invalid base64: character " + quote(std::string_view(&c, 1)) +
                           " at offset " + std::to_string(i));
        }
        ++symbols;
        bits = (bits << 6) | static_cast<std::uint32_t>(value);
        pending += 6;
        if (pending >= 8) {
            pending -= 8;
            out += static_cast<char>((bits >> pending) & 0xffu);
        }
    }
    if (symbols % 4 == 1) {
        return failure("invalid base64: truncated (" + std::to_string(symbols) + " symbols)");
    }
    // Padding is optional, but when present it must complete the last quantum exactly.
    if (padding > 0 && (padding > 2 || (symbols + padding) % 4 != 0)) {
        return failure("invalid base64: " + std::to_string(padding) + " padding characters after " +
                       std::to_string(symbols) + " symbols");
    }
    return out;
}

ImdsClient::ImdsClient(HttpClient& http, Clock& clock, std::string base_url, RetryPolicy policy,
                       std::uint64_t seed)
    : m_http(http),
      m_clock(clock),
      m_base_url(std::move(base_url)),
      m_policy(policy),
      m_seed(seed) {
    // "--imds http://host/" is an easy slip; "//metadata" would be a different path to IMDS.
    while (!m_base_url.empty() && m_base_url.back() == '/') {
        m_base_url.pop_back();
    }
}

Result<InstanceMetadata> ImdsClient::fetch() {
    m_attempts = 0;
    std::mt19937_64 random(m_seed);
    // The next fetch continues the sequence instead of repeating this one's delays.
    m_seed = random();

    const std::string url = m_base_url + std::string(k_instance_path);
    HttpRequest request;
    request.url = url;
    request.headers = {{"Metadata", "true"}};

    const auto start = m_clock.now();
    const auto deadline = start + m_policy.deadline;
    std::string last_failure;
    for (;;) {
        ++m_attempts;
        limit_try(request, m_policy, deadline - m_clock.now());

        auto response = m_http.get(request);
        if (response && response->status == 200) {
            const json document = parse_json(response->body);
            if (document.is_discarded()) {
                return failure("IMDS returned invalid JSON: " +
                               describe_invalid_json(response->body));
            }
            auto metadata = from_document(document);
            if (!metadata) {
                return with_context("IMDS returned unusable instance metadata", metadata.error());
            }
            if (m_attempts > 1 || m_failed_fetches > 0) {
                spdlog::info("instance metadata reachable again after {} tries ({})", m_attempts,
                             seconds_text(m_clock.now() - start));
            }
            m_failed_fetches = 0;
            return metadata;
        }
        if (response && !is_retryable_status(response->status)) {
            const long status = response->status;
            if (status >= 400 && status <= 499) {
                return failure("IMDS rejected the request " + url + " with HTTP " +
                               std::to_string(status) + ": " + quote(response->body));
            }
            return failure("IMDS answered " + url + " with unexpected HTTP " +
                           std::to_string(status));
        }

        last_failure = response ? "HTTP " + std::to_string(response->status) + " from " + url
                                : response.error().message;
        spdlog::debug("IMDS try {} failed: {}", m_attempts, last_failure);
        const auto now = m_clock.now();
        if (m_attempts == 1 && m_failed_fetches == 0) {
            const auto left = std::chrono::ceil<std::chrono::seconds>(deadline - now);
            spdlog::warn("instance metadata not reachable yet ({}); retrying for up to {} s",
                         last_failure, std::max<std::chrono::seconds::rep>(left.count(), 0));
        }
        if (now >= deadline) {
            ++m_failed_fetches;
            return failure("instance metadata unavailable after " + std::to_string(m_attempts) +
                           (m_attempts == 1 ? " try" : " tries") + " over " +
                           seconds_text(now - start) + "; last failure: " + last_failure);
        }
        milliseconds delay = retry_delay(m_policy, m_attempts, random);
        const auto until_deadline = std::chrono::ceil<milliseconds>(deadline - now);
        delay = std::min(delay, until_deadline);
        if (!m_policy.give_up) {
            m_clock.sleep_for(delay);
            continue;
        }
        // In slices, so a stop that comes meanwhile is not kept waiting for the whole delay.
        for (auto left = delay; left.count() > 0; left -= k_stop_check) {
            if (m_policy.give_up()) {
                ++m_failed_fetches;
                return failure(
                    "instance metadata not read: the service is stopping (last "
                    "failure: " +
                    last_failure + ")");
            }
            m_clock.sleep_for(std::min(left, k_stop_check));
        }
    }
}

}  // namespace dsvm::config
