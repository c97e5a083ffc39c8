#include "controller/city/outbox.hpp"

#include "controller/core/store.hpp"

namespace caregate {

nlohmann::json Outbox::envelope(const std::string& site, const std::string& kind, const std::string& id,
                                int64_t ts_ms, const nlohmann::json& data) {
    return {{"schema", "caregate." + kind + "/1"}, {"id", id}, {"site", site}, {"ts", ts_ms}, {"data", data}};
}

void Outbox::put(sqlite3* db, const std::string& kind, const std::string& id, int64_t ts_ms,
                 const nlohmann::json& data, Priority priority) const {
    Stmt s(db,
           "INSERT INTO outbox(id, kind, priority, payload, created_at) VALUES(?,?,?,?,?) "
           "ON CONFLICT(id) DO NOTHING");
    s.bind(1, id).bind(2, kind).bind(3, static_cast<int>(priority));
    s.bind(4, envelope(site_, kind, id, ts_ms, data).dump()).bind(5, ts_ms).run();
}

}  // namespace caregate
