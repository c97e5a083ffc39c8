// What every kiosk route file shares: JSON replies and errors, the bounded body parser and field
// readers. Errors are {"error": "<a Chinese sentence>", "code": "<snake_case>"} with the HTTP status;
// the sentences and codes are in the message catalogue (messages.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "controller/kiosk/messages.hpp"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace caregate::api {

constexpr size_t kApiBodyBytes = 64 * 1024;  // every JSON form of the kiosk

void reply(httplib::Response& res, const nlohmann::json& j, int status = 200);
// {"error": the catalogue's sentence (and the detail, in brackets, when there is one), "code": ...}.
void fail(httplib::Response& res, int status, Msg code, const std::string& detail = "");
// A sentence of its own (Chinese: a domain refusal naming its field, elder or date) under a code.
void fail(httplib::Response& res, int status, const std::string& message, Msg code);
// A sentence of its own under a code that follows from the status (400 bad_field, 404 not_found,
// 409 refused, ...).
void fail(httplib::Response& res, int status, const std::string& message);
// A refusal thrown by domain code: its text when that is Chinese, else (an exception of a library,
// English) the catalogue's sentence, the text going to the log only.
void fail(httplib::Response& res, int status, const std::exception& e, Msg code);
// The body as a JSON object (size- and depth-bounded), or nullopt after a 400 naming the problem.
std::optional<nlohmann::json> body(const httplib::Request& req, httplib::Response& res);
std::string str_field(const nlohmann::json& j, const char* k, const std::string& def = "");
// A whole number field within [lo, hi] (lo >= 0), or nullopt when missing, not a whole number or out
// of range.
std::optional<int64_t> int_field(const nlohmann::json& j, const char* k, int64_t lo, int64_t hi);

// A row id from the path (digits only by the route's pattern); nullopt when too long to be one.
std::optional<int64_t> path_id(const std::string& digits);

}  // namespace caregate::api
