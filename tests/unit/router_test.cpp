#include "orderbridge/http/router.hpp"

#include <gtest/gtest.h>

namespace orderbridge::http {
namespace {

Handler Tag(std::string tag, std::string* hit) {
    return [tag, hit](Request&, Responder) { *hit = tag; };
}

Request Make(std::string method, std::string path) {
    Request r;
    r.method = std::move(method);
    r.path = std::move(path);
    return r;
}

TEST(RouterTest, MatchesStaticAndParameterisedRoutes) {
    std::string hit;
    Router router;
    router.Add("GET", "/v1/orders", Tag("list", &hit));
    router.Add("GET", "/v1/orders/{id}", Tag("one", &hit));
    router.Add("GET", "/v1/orders/{id}/timeline", Tag("timeline", &hit));
    router.Add("POST", "/webhooks/woocommerce/{store}", Tag("woo", &hit));

    Request r = Make("GET", "/v1/orders/wc:main:42/timeline");
    auto m = router.Find(r);
    ASSERT_EQ(m.kind, Router::MatchKind::kFound);
    (*m.handler)(r, Responder{});
    EXPECT_EQ(hit, "timeline");
    EXPECT_EQ(r.Param("id"), "wc:main:42");
    EXPECT_EQ(r.route, "/v1/orders/{id}/timeline");
    EXPECT_EQ(r.route_index, 2u);

    Request list = Make("GET", "/v1/orders");
    ASSERT_EQ(router.Find(list).kind, Router::MatchKind::kFound);
    EXPECT_EQ(list.route, "/v1/orders");
    EXPECT_TRUE(list.path_params.empty());

    Request woo = Make("POST", "/webhooks/woocommerce/main");
    ASSERT_EQ(router.Find(woo).kind, Router::MatchKind::kFound);
    EXPECT_EQ(woo.Param("store"), "main");
}

TEST(RouterTest, UnknownPathIsNotFoundAndWrongMethodListsAllowed) {
    Router router;
    std::string hit;
    router.Add("GET", "/v1/dlq", Tag("a", &hit));
    router.Add("POST", "/v1/dlq/replay", Tag("b", &hit));
    router.Add("DELETE", "/v1/dlq", Tag("c", &hit));

    Request missing = Make("GET", "/v1/nothing");
    EXPECT_EQ(router.Find(missing).kind, Router::MatchKind::kNotFound);
    Request wrong = Make("PUT", "/v1/dlq");
    auto m = router.Find(wrong);
    EXPECT_EQ(m.kind, Router::MatchKind::kMethodNotAllowed);
    EXPECT_EQ(m.allow, "GET, DELETE");
    Request tooDeep = Make("GET", "/v1/dlq/x/y");
    EXPECT_EQ(router.Find(tooDeep).kind, Router::MatchKind::kNotFound);
}

TEST(RouterTest, HeadUsesGetAndPrefixRoutesMatchBelow) {
    Router router;
    std::string hit;
    router.Add("GET", "/console/*", Tag("console", &hit));
    Request head = Make("HEAD", "/console/app.js");
    EXPECT_EQ(router.Find(head).kind, Router::MatchKind::kFound);
    Request root = Make("GET", "/console/");
    EXPECT_EQ(router.Find(root).kind, Router::MatchKind::kFound);
    Request other = Make("GET", "/consoles");
    EXPECT_EQ(router.Find(other).kind, Router::MatchKind::kNotFound);
}

TEST(RouterTest, EmptyParameterDoesNotMatch) {
    Router router;
    std::string hit;
    router.Add("GET", "/v1/orders/{id}", Tag("one", &hit));
    Request r = Make("GET", "/v1/orders/");
    EXPECT_EQ(router.Find(r).kind, Router::MatchKind::kNotFound);
}

TEST(RequestTest, QueryParametersAreDecoded) {
    Request r;
    r.query = "status=on-hold&from=2026-01-01T00%3A00%3A00Z&q=a+b&flag&bad=%zz";
    EXPECT_EQ(r.QueryParam("status"), "on-hold");
    EXPECT_EQ(r.QueryParam("from"), "2026-01-01T00:00:00Z");
    EXPECT_EQ(r.QueryParam("q"), "a b");
    EXPECT_EQ(r.QueryParam("flag"), "");
    EXPECT_FALSE(r.QueryParam("missing").has_value());
    EXPECT_FALSE(r.QueryParam("bad").has_value());
}

TEST(RequestTest, HeaderLookupIgnoresCase) {
    Request r;
    r.headers = {{"X-WC-Webhook-Topic", "order.created"}, {"content-type", "application/json"}};
    EXPECT_EQ(r.Header("x-wc-webhook-topic"), "order.created");
    EXPECT_EQ(r.Header("Content-Type"), "application/json");
    EXPECT_EQ(r.Header("X-Missing"), "");
}

}  // namespace
}  // namespace orderbridge::http
