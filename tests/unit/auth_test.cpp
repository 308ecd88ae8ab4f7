// Admin tokens: roles, constant-time matching, and slowing down an address that keeps failing.
#include "orderbridge/api/auth.hpp"

#include <gtest/gtest.h>

#include "orderbridge/core/error.hpp"

namespace orderbridge::api {
namespace {

using namespace std::chrono_literals;

class FakeClock final : public core::Clock {
  public:
    std::chrono::system_clock::time_point Now() const override { return std::chrono::system_clock::time_point{}; }
    std::chrono::steady_clock::time_point Steady() const override { return t; }
    std::chrono::steady_clock::time_point t = std::chrono::steady_clock::time_point{} + 1h;
};

http::Request Call(const std::string& token, const std::string& from = "10.0.0.1") {
    http::Request r;
    r.remote_address = from;
    r.path = "/v1/orders";
    if (!token.empty()) r.headers.emplace_back("Authorization", "Bearer " + token);
    return r;
}

core::Errc CodeOf(const Authenticator& auth, const http::Request& r, bool action = false) {
    try {
        auth.Authorize(r, action);
    } catch (const core::Error& e) {
        return e.Code();
    }
    return core::Errc::kInternal;  // "no error" for these tests
}

TEST(AuthTest, RolesAndUnknownTokens) {
    FakeClock clock;
    Authenticator auth(
        {{"ops", "operator-secret", config::Role::kOperator}, {"support", "viewer-secret", config::Role::kViewer}},
        clock);
    EXPECT_EQ(auth.Authorize(Call("operator-secret"), true), "ops");
    EXPECT_EQ(auth.Authorize(Call("viewer-secret"), false), "support");
    EXPECT_EQ(CodeOf(auth, Call("viewer-secret"), true), core::Errc::kForbidden);
    EXPECT_EQ(CodeOf(auth, Call("viewer-secre")), core::Errc::kUnauthorized) << "a prefix is not the token";
    EXPECT_EQ(CodeOf(auth, Call("")), core::Errc::kUnauthorized);
}

TEST(AuthTest, AnAddressThatKeepsFailingIsSlowedDownOthersAreNot) {
    FakeClock clock;
    Authenticator auth({{"ops", "operator-secret", config::Role::kOperator}}, clock);
    for (int i = 0; i < FailureLimiter::kFreeFailures; ++i)
        EXPECT_EQ(CodeOf(auth, Call("guess")), core::Errc::kUnauthorized);
    EXPECT_EQ(CodeOf(auth, Call("guess")), core::Errc::kUnauthorized);  // the 6th failure starts a 1 s block
    EXPECT_EQ(CodeOf(auth, Call("operator-secret")), core::Errc::kTooManyRequests) << "even the right token waits";
    EXPECT_EQ(auth.Authorize(Call("operator-secret", "10.0.0.2"), true), "ops") << "other addresses are not affected";
    clock.t += 2s;
    EXPECT_EQ(CodeOf(auth, Call("guess")), core::Errc::kUnauthorized);  // 7th: 2 s
    clock.t += 1s;
    EXPECT_EQ(CodeOf(auth, Call("guess")), core::Errc::kTooManyRequests);
    clock.t += 2s;
    EXPECT_EQ(auth.Authorize(Call("operator-secret"), true), "ops");  // a success clears the record
    EXPECT_EQ(CodeOf(auth, Call("guess")), core::Errc::kUnauthorized);
}

TEST(AuthTest, TheBlockGrowsButIsCapped) {
    FailureLimiter limiter;
    auto now = std::chrono::steady_clock::time_point{} + 1h;
    for (int i = 0; i < 40; ++i) {
        limiter.Failed("x", now);
        now += limiter.Wait("x", now);
    }
    EXPECT_LE(limiter.Wait("x", now - 1s), std::chrono::seconds(301));
    limiter.Failed("x", now);
    EXPECT_GE(limiter.Wait("x", now), std::chrono::seconds(200));
}

}  // namespace
}  // namespace orderbridge::api
