#include "tests/controller/kiosk_rig.hpp"

namespace caregate::testing {

using nlohmann::json;

KioskRig::KioskRig(const std::string& yaml, int64_t now_ms, const std::string& checkin_zone)
    : cfg(config::parse_config(yaml, "x.yaml")),
      clock(now_ms),
      store(dir.file("s.db")),
      outbox(cfg.site.id, "r"),
      alarms(store, clock, outbox, AlarmPolicy{60, 900}),
      occ(store, clock, cfg),
      checkins(store, clock, outbox, occ, 30, checkin_zone),
      roster(store, clock),
      staff(store, clock),
      records(store, clock, outbox),
      feed(bus, 8),
      http(HttpOptions{"127.0.0.1", 0, 8, "", "", ""}) {}

KioskParts KioskRig::parts() {
    return KioskParts{cfg,  store,   clock,   alarms,  checkins, occ, roster, staff,   records,
                      feed, nullptr, nullptr, nullptr, {},       "",  {},     nullptr, {}};
}

void KioskRig::start(const KioskParts& p) {
    kiosk = std::make_unique<Kiosk>(p, http.routes());
    http.start();
}

KioskRig::Login KioskRig::login(const std::string& user, const std::string& password) {
    httplib::Client cli("127.0.0.1", http.port());
    auto r =
        cli.Post("/api/login", json{{"username", user}, {"password", password}}.dump(), "application/json");
    Login l;
    if (!r) return l;
    l.status = r->status;
    if (r->status != 200) return l;
    std::string set = r->get_header_value("Set-Cookie");
    l.cookie = set.substr(0, set.find(';'));
    l.csrf = json::parse(r->body)["csrf"];
    return l;
}

httplib::Result KioskRig::get(const Login& l, const std::string& path) {
    httplib::Client cli("127.0.0.1", http.port());
    if (l.cookie.empty()) return cli.Get(path);
    return cli.Get(path, {{"Cookie", l.cookie}});
}

httplib::Result KioskRig::send(const Login& l, const std::string& method, const std::string& path,
                               const json& body) {
    httplib::Client cli("127.0.0.1", http.port());
    httplib::Headers h{{"Cookie", l.cookie}, {"X-CSRF-Token", l.csrf}};
    if (method == "PUT") return cli.Put(path, h, body.dump(), "application/json");
    if (method == "DELETE") return cli.Delete(path, h);
    return cli.Post(path, h, body.dump(), "application/json");
}

}  // namespace caregate::testing
