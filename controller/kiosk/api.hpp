// What every kiosk route file shares: JSON replies and errors, the bounded body parser and field
// readers. Errors are {"error": "中文 (English)"} with the HTTP status.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace caregate::api {

constexpr size_t kApiBodyBytes = 64 * 1024;  // every JSON form of the kiosk

void reply(httplib::Response& res, const nlohmann::json& j, int status = 200);
void fail(httplib::Response& res, int status, const std::string& message);
// The body as a JSON object (size- and depth-bounded), or nullopt after a 400 naming the problem.
std::optional<nlohmann::json> body(const httplib::Request& req, httplib::Response& res);
std::string str_field(const nlohmann::json& j, const char* k, const std::string& def = "");
// A whole number field within [lo, hi] (lo >= 0), or nullopt when missing, not a whole number or out
// of range.
std::optional<int64_t> int_field(const nlohmann::json& j, const char* k, int64_t lo, int64_t hi);

// A row id from the path (digits only by the route's pattern); nullopt when too long to be one.
std::optional<int64_t> path_id(const std::string& digits);

}  // namespace caregate::api
