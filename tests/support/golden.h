// golden.h — golden-file tests: every NAME.in in a directory is rendered by
// the test's function and must equal NAME.out beside it. Run with
// MIGO_GOLDEN_UPDATE=1 to (re)write the .out files, then review the diff.
#pragma once

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>

namespace migo::test {

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// Checks every golden pair in `dir`; returns how many there were.
// `also` (optional) gets each input and its rendering for extra checks.
inline int check_golden(const std::string& dir, const std::function<std::string(const std::string&)>& render,
                        const std::function<void(const std::string&, const std::string&)>& also = {}) {
  namespace fs = std::filesystem;
  int cases = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".in") continue;
    cases++;
    fs::path expected = entry.path();
    expected.replace_extension(".out");
    std::string input = slurp(entry.path());
    std::string got = render(input);
    INFO("golden file " << entry.path().filename() << " (regenerate with MIGO_GOLDEN_UPDATE=1)");
    if (std::getenv("MIGO_GOLDEN_UPDATE")) std::ofstream(expected, std::ios::binary) << got;
    REQUIRE(fs::exists(expected));
    CHECK(got == slurp(expected));
    if (also) also(input, got);
  }
  return cases;
}

}  // namespace migo::test
