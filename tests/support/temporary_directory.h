// A fresh directory under the system's temporary folder, removed with everything in it
// afterwards; for tests that run on both platforms.
#pragma once

#include <catch2/catch.hpp>

#include <filesystem>
#include <random>
#include <string>
#include <system_error>

namespace dsvm::test {

class ScratchDirectory {
  public:
    ScratchDirectory() {
        std::random_device entropy;
        const auto base = std::filesystem::temp_directory_path();
        for (int attempt = 0; attempt < 100 && m_path.empty(); ++attempt) {
            const auto candidate = base / ("dsvm-scratch-" + std::to_string(entropy()));
            std::error_code error;
            if (std::filesystem::create_directory(candidate, error)) {
                m_path = candidate.generic_string();
            }
        }
        REQUIRE_FALSE(m_path.empty());
    }
    ~ScratchDirectory() {
        std::error_code ignored;
        std::filesystem::remove_all(m_path, ignored);
    }
    ScratchDirectory(const ScratchDirectory&) = delete;
    ScratchDirectory& operator=(const ScratchDirectory&) = delete;

    const std::string& path() const { return m_path; }
    std::string operator/(const std::string& name) const { return m_path + "/" + name; }

  private:
    std::string m_path;
};

}  // namespace dsvm::test
