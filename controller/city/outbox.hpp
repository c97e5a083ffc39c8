// The city uplink backlog. Callers put a message inside the same write transaction as the record
// it reports, so a committed record always has its message and vice versa.
#pragma once

#include <sqlite3.h>

#include <nlohmann/json.hpp>
#include <string>

namespace caregate {

enum class Priority { low = 0, normal = 1, safety = 2 };

class Outbox {
public:
    Outbox(std::string site_id, std::string region) : site_(std::move(site_id)), region_(std::move(region)) {}
    // Writes the envelope {"schema":"caregate.<kind>/1","id","site","ts","data"} with the record's uuid.
    void put(sqlite3* db, const std::string& kind, const std::string& id, int64_t ts_ms,
             const nlohmann::json& data, Priority priority = Priority::normal) const;
    static nlohmann::json envelope(const std::string& site, const std::string& kind, const std::string& id,
                                   int64_t ts_ms, const nlohmann::json& data);
    const std::string& site() const { return site_; }
    const std::string& region() const { return region_; }

private:
    std::string site_;
    std::string region_;
};

}  // namespace caregate
