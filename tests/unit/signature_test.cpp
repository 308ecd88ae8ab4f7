#include "orderbridge/woo/signature.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "orderbridge/model/identity.hpp"

namespace orderbridge::woo {
namespace {

// RFC 4231 test case 2 (RFC 2202 for SHA-1), as base64.
constexpr std::string_view kJefe = "what do ya want for nothing?";

TEST(SignatureTest, HmacsMatchThePublishedTestVectors) {
    EXPECT_EQ(HmacBase64(kJefe, "Jefe", "sha256"), "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
    EXPECT_EQ(HmacBase64(kJefe, "Jefe", "sha1"), "7/zfauXrL6LSdBbV8YTfnCWafHk=");
    EXPECT_EQ(HmacBase64(kJefe, "Jefe", "sha384"), "r0XS43ZIQDFhf3jStYprG5x+9GT1oBtH5C7Dc2MiRF6OIkDKXmnix4syOez6shZJ");
    EXPECT_EQ(HmacBase64(kJefe, "Jefe", "sha512"),
              "Fkt6e/z4GeLjlfvnO1bgo4e9ZCIugx/WECcM1+olBVSXWL91wFqZSm0DT2X48Ob9yuqxo01Ka0tjbgcKOLznNw==");
    EXPECT_EQ(HmacBase64("", "", "sha256"), "thNnmggU2ex3L5XXeMNfxf8Wl8STcVZTxscSFEKSxa0=");
    EXPECT_EQ(HmacBase64(kJefe, "Jefe", "md5"), "");
}

// Each thread keeps one context per digest and keys it again for every message: a message must
// never carry anything of the one before, nor another key's state.
TEST(SignatureTest, KeysAndMessagesDoNotLeakIntoEachOther) {
    const std::string fox = "The quick brown fox jumps over the lazy dog";
    for (int round = 0; round < 3; ++round) {
        EXPECT_EQ(HmacBase64("", "", "sha256"), "thNnmggU2ex3L5XXeMNfxf8Wl8STcVZTxscSFEKSxa0=");
        EXPECT_EQ(HmacBase64(kJefe, "Jefe", "sha256"), "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
        EXPECT_EQ(HmacBase64(fox, "key", "sha256"), "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg=");
        EXPECT_EQ(HmacBase64(kJefe, "Jefe", "sha1"), "7/zfauXrL6LSdBbV8YTfnCWafHk=");
    }
    // Many keys one after another on one thread's context: each message is keyed on its own.
    for (int i = 0; i < 40; ++i)
        EXPECT_EQ(HmacBase64(fox, "key-" + std::to_string(i), "sha256").size(), 44u);
    EXPECT_EQ(HmacBase64(kJefe, "Jefe", "sha256"), "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
    std::vector<std::thread> threads;
    std::vector<int> matches(4, 0);
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 200; ++i) {
                const bool jefe = (i + t) % 2 == 0;
                const std::string got = jefe ? HmacBase64(kJefe, "Jefe", "sha256") : HmacBase64(fox, "key", "sha256");
                if (got == (jefe ? "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="
                                 : "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg="))
                    ++matches[static_cast<std::size_t>(t)];
            }
        });
    }
    for (auto& th : threads)
        th.join();
    EXPECT_EQ(matches, std::vector<int>(4, 200));
}

TEST(SignatureTest, AnyActiveSecretVerifiesAndTheSecretIsEntityDecoded) {
    const std::string body = "{\"id\":1}";
    // WooCommerce signs with the secret as wp_specialchars_decode leaves it: "a&b'c".
    const std::string signature = "1iPwNFgKJMx8A+w0uBp1I1axqQOrXQykSrscUoRDjvU=";
    EXPECT_EQ(Sign(body, "a&amp;b&#039;c", "sha256"), signature);
    EXPECT_TRUE(VerifySignature(body, signature, {"old", "a&amp;b&#039;c"}, "sha256"));
    EXPECT_TRUE(VerifySignature(body, signature, {"a&amp;b&#039;c", "new"}, "sha256"));
    EXPECT_FALSE(VerifySignature(body, signature, {"old", "new"}, "sha256"));
    EXPECT_FALSE(VerifySignature(body + " ", signature, {"a&amp;b&#039;c"}, "sha256"));
    EXPECT_FALSE(VerifySignature(body, signature, {"a&amp;b&#039;c"}, "sha1"));
    EXPECT_FALSE(VerifySignature(body, "", {"a&amp;b&#039;c"}, "sha256"));
    EXPECT_FALSE(VerifySignature(body, signature, {"a&amp;b&#039;c"}, "md5"));
}

TEST(SignatureTest, AnEmptyTextNeverMatches) {
    EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
    EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
    EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
    EXPECT_FALSE(ConstantTimeEquals("", ""));  // a MAC that could not be computed is empty
}

TEST(SignatureTest, VersionsHashWithSha256) {
    // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad (FIPS 180-2).
    EXPECT_EQ(model::MakeVersion(1'700'000'000'000, "abc"), "1700000000000-ba7816bf8f01cfea");
}

}  // namespace
}  // namespace orderbridge::woo
