#include "controller/kiosk/api.hpp"

#include <httplib.h>

#include "controller/core/bounded_json.hpp"
#include "controller/core/log.hpp"

namespace caregate::api {

using nlohmann::json;

void reply(httplib::Response& res, const json& j, int status) {
    res.status = status;
    res.set_header("Cache-Control", "no-store");
    res.set_content(j.dump(), "application/json; charset=utf-8");
}

void fail(httplib::Response& res, int status, Msg code, const std::string& detail) {
    std::string text = text_of(code);
    if (!detail.empty()) text += "（" + detail + "）";
    reply(res, {{"error", text}, {"code", code_of(code)}}, status);
}

void fail(httplib::Response& res, int status, const std::string& message, Msg code) {
    reply(res, {{"error", message.empty() ? std::string(text_of(code)) : message}, {"code", code_of(code)}},
          status);
}

void fail(httplib::Response& res, int status, const std::string& message) {
    Msg code = status == 401   ? Msg::not_logged_in
               : status == 403 ? Msg::refused
               : status == 404 ? Msg::not_found
               : status == 409 ? Msg::refused
               : status == 413 ? Msg::body_too_large
               : status == 503 ? Msg::busy
               : status >= 500 ? Msg::internal_error
                               : Msg::bad_field;
    fail(res, status, message, code);
}

void fail(httplib::Response& res, int status, const std::exception& e, Msg code) {
    std::string what = e.what();
    if (!what.empty() && latin_free(what)) return fail(res, status, what, code);
    logger("kiosk")->warn("refusal answered as {}: {}", code_of(code), what);
    fail(res, status, code);
}

std::optional<json> body(const httplib::Request& req, httplib::Response& res) {
    std::string why;
    auto j = parse_bounded_json(req.body, JsonLimits{kApiBodyBytes, 8}, &why);
    if (!j || !j->is_object()) {
        if (!why.empty()) logger("kiosk")->info("{} {}: body refused: {}", req.method, req.path, why);
        fail(res, 400, Msg::bad_json);
        return std::nullopt;
    }
    return j;
}

std::string str_field(const json& j, const char* k, const std::string& def) {
    return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : def;
}

std::optional<int64_t> int_field(const json& j, const char* k, int64_t lo, int64_t hi) {
    if (!j.contains(k)) return std::nullopt;
    const json& v = j.at(k);
    if (!v.is_number_integer()) return std::nullopt;
    if (v.is_number_unsigned() ? v.get<uint64_t>() > uint64_t(hi) : v.get<int64_t>() > hi)
        return std::nullopt;
    int64_t x = v.get<int64_t>();
    if (x < lo) return std::nullopt;
    return x;
}

std::optional<int64_t> path_id(const std::string& digits) {
    if (digits.empty() || digits.size() > 18) return std::nullopt;
    return std::stoll(digits);
}

}  // namespace caregate::api
