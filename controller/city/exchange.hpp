// The rest of the city exchange: daily summaries and device health into the outbox, authenticated
// downlink commands (roster upserts/deletes, notices), and the reference receiver.
#pragma once

#include <atomic>
#include <nlohmann/json.hpp>
#include <string>

#include "controller/core/clock.hpp"
#include "controller/core/events.hpp"
#include "controller/core/store.hpp"
#include "controller/outbox.hpp"
#include "controller/roster.hpp"

namespace caregate::city {

// Statistics of one local day ("2026-11-24", site time).
nlohmann::json daily_summary(Store& store, const std::string& date, int64_t tz_offset_ms);
// Writes it to the outbox with a deterministic id, so computing it twice sends it once.
void queue_daily_summary(Store& store, const Outbox& outbox, const std::string& date, int64_t tz_offset_ms,
                         int64_t now_ms);
void queue_device_health(Store& store, const Outbox& outbox, const DeviceHealth& h);

// HMAC-SHA256 (hex) over  id "\n" ts "\n" cmd "\n" data.dump()  — data serialized compactly with
// sorted keys (nlohmann's dump), so both sides compute it without a canonical-JSON library.
std::string command_hmac(const nlohmann::json& cmd, const std::string& key);

struct CommandResult {
    bool applied = false;
    std::string error;  // why it was refused
};

class Downlink {
public:
    Downlink(Store& store, const Clock& clock, Roster& roster, std::string hmac_key,
             int64_t max_age_ms = 600'000)
        : store_(store), clock_(clock), roster_(roster), key_(std::move(hmac_key)), max_age_ms_(max_age_ms) {}
    // Validates, authenticates, refuses replays, applies idempotently. Never throws.
    CommandResult handle(const std::string& payload);
    uint64_t refused() const { return refused_; }

private:
    Store& store_;
    const Clock& clock_;
    Roster& roster_;
    std::string key_;
    int64_t max_age_ms_;
    std::atomic<uint64_t> refused_{0};
};

struct ReceiverStats {
    uint64_t received = 0, stored = 0, duplicates = 0, invalid = 0;
};
// `caregate city-receiver`: subscribes city/<region>/+/+, validates, dedupes by id, stores.
int run_city_receiver(const std::string& uri, const std::string& region, const std::string& db_path,
                      const std::string& schemas_dir, std::atomic<bool>& stop,
                      ReceiverStats* stats = nullptr);

}  // namespace caregate::city
