#include "orderbridge/http/error_mapping.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace orderbridge::http {
namespace {

using core::Errc;

TEST(ErrorMappingTest, EveryErrcHasItsStatusAndCode) {
    const std::vector<std::tuple<Errc, int, std::string>> table = {{Errc::kBadRequest, 400, "bad_request"},
                                                                   {Errc::kUnauthorized, 401, "unauthorized"},
                                                                   {Errc::kForbidden, 403, "forbidden"},
                                                                   {Errc::kNotFound, 404, "not_found"},
                                                                   {Errc::kMethodNotAllowed, 405, "method_not_allowed"},
                                                                   {Errc::kConflict, 409, "conflict"},
                                                                   {Errc::kPayloadTooLarge, 413, "payload_too_large"},
                                                                   {Errc::kHeaderTooLarge, 431, "header_too_large"},
                                                                   {Errc::kUnprocessable, 422, "unprocessable"},
                                                                   {Errc::kTooManyRequests, 429, "too_many_requests"},
                                                                   {Errc::kUnavailable, 503, "unavailable"},
                                                                   {Errc::kTimeout, 503, "timeout"},
                                                                   {Errc::kInternal, 500, "internal"}};
    for (const auto& [errc, status, code] : table) {
        Response r = ErrorResponse(errc, "msg");
        EXPECT_EQ(r.status, status) << code;
        auto body = nlohmann::json::parse(r.body);
        EXPECT_EQ(body["error"]["code"], code);
        EXPECT_EQ(body["error"]["message"], "msg");
        EXPECT_EQ(FindHeader(r.headers, "Content-Type"), "application/json");
    }
}

TEST(ErrorMappingTest, RetryAfterAndAuthenticateHeaders) {
    Response r = ErrorResponse(core::Error(Errc::kUnavailable, "store down", std::chrono::seconds(7)));
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(FindHeader(r.headers, "Retry-After"), "7");
    Response u = ErrorResponse(Errc::kUnauthorized, "token required");
    EXPECT_EQ(FindHeader(u.headers, "WWW-Authenticate"), "Bearer");
}

TEST(ErrorMappingTest, UnknownExceptionsDoNotLeakDetail) {
    Response r = ErrorResponse(std::make_exception_ptr(std::runtime_error("password=hunter2 in connection string")));
    EXPECT_EQ(r.status, 500);
    EXPECT_EQ(r.body.find("hunter2"), std::string::npos);
    Response j = ErrorResponse(std::make_exception_ptr(core::Error(Errc::kConflict, "exists")));
    EXPECT_EQ(j.status, 409);
}

TEST(ErrorMappingTest, ResponderAnswersOnceAndDroppedResponderAnswers500) {
    std::vector<int> statuses;
    {
        Responder r([&](Response resp) { statuses.push_back(resp.status); });
        r(Response::Empty(202));
        r(Response::Empty(500));
    }
    ASSERT_EQ(statuses, std::vector<int>{202});
    {
        Responder dropped([&](Response resp) { statuses.push_back(resp.status); });
    }
    EXPECT_EQ(statuses, (std::vector<int>{202, 500}));
}

TEST(ErrorClassTest, HttpStatusClassification) {
    using core::ErrorClass;
    EXPECT_EQ(core::ClassifyHttpStatus(500), ErrorClass::kTransient);
    EXPECT_EQ(core::ClassifyHttpStatus(503), ErrorClass::kTransient);
    EXPECT_EQ(core::ClassifyHttpStatus(429), ErrorClass::kThrottled);
    EXPECT_EQ(core::ClassifyHttpStatus(400), ErrorClass::kPermanent);
    EXPECT_EQ(core::ClassifyHttpStatus(422), ErrorClass::kPermanent);
    EXPECT_EQ(core::ClassifyHttpStatus(401), ErrorClass::kAuth);
    EXPECT_EQ(core::ClassifyHttpStatus(403), ErrorClass::kAuth);
    EXPECT_EQ(core::ClassifyHttpStatus(409), ErrorClass::kDuplicate);
    EXPECT_EQ(core::ClassifyHttpStatus(408), ErrorClass::kTransient);
    for (auto cls : {ErrorClass::kTransient, ErrorClass::kThrottled, ErrorClass::kPermanent, ErrorClass::kAuth,
                     ErrorClass::kDuplicate, ErrorClass::kHeld}) {
        EXPECT_EQ(core::ParseErrorClass(core::ToString(cls)), cls);
    }
    EXPECT_FALSE(core::ParseErrorClass("nope").has_value());
}

}  // namespace
}  // namespace orderbridge::http
