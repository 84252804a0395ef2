// sha256_test.cc - FIPS 180-4 test vectors for the conformance suite's SHA-256.
#include "conformance/src/sha256.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace hal::conformance {
namespace {

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, IncrementalEqualsOneShot) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data += static_cast<char>(i * 7);
  for (size_t split : {0u, 1u, 55u, 56u, 63u, 64u, 65u, 999u}) {
    Sha256 sha;
    sha.update(data.data(), split);
    sha.update(data.data() + split, data.size() - split);
    auto digest = sha.finish();
    char hexbuf[65];
    for (int i = 0; i < 32; ++i) std::snprintf(hexbuf + 2 * i, 3, "%02x", digest[i]);
    EXPECT_EQ(std::string(hexbuf), sha256_hex(data)) << "split " << split;
  }
}

TEST(Sha256, File) {
  std::string path = ::testing::TempDir() + "/sha256_test_file";
  {
    std::ofstream out(path, std::ios::binary);
    out << "abc";
  }
  EXPECT_EQ(sha256_file(path), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::remove(path.c_str());
  EXPECT_THROW(sha256_file(path), std::runtime_error);
}

}  // namespace
}  // namespace hal::conformance
