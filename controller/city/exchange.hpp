// The rest of the city exchange: daily summaries and device health into the outbox, authenticated
// downlink commands (roster upserts/deletes, notices), and the reference receiver.
#pragma once

#include <atomic>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "controller/city/outbox.hpp"
#include "controller/city/receiver.hpp"  // run_city_receiver, kept reachable from here
#include "controller/core/clock.hpp"
#include "controller/core/events.hpp"
#include "controller/core/store.hpp"
#include "controller/people/roster.hpp"

namespace caregate::city {

// The local date whose summary is due at `now`: the previous local day, once the local hour has
// reached `hour`, unless it is `last_done` (or older). Catches up after the box was off at that hour.
std::optional<std::string> summary_date_due(int64_t now_ms, int64_t tz_offset_ms, int hour,
                                            const std::string& last_done);
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

// Notices from the city for the kiosk, newest first, unexpired:
// [{"id","title","text","level","until" (0: none),"received_at"}].
nlohmann::json current_notices(Store& store, int64_t now_ms);

// Downlink commands, see docs/city-exchange.md. handle() runs on the uplink's worker thread.
class Downlink {
public:
    // site: this box's site id; a command names it and its HMAC covers it, so a command for one site
    // is refused by every other.
    Downlink(Store& store, const Clock& clock, Roster& roster, std::string hmac_key, std::string site,
             int64_t max_age_ms = 600'000)
        : store_(store),
          clock_(clock),
          roster_(roster),
          key_(std::move(hmac_key)),
          site_(std::move(site)),
          max_age_ms_(max_age_ms) {}
    // Validates, authenticates, refuses replays, applies idempotently. Never throws.
    CommandResult handle(const std::string& payload);
    uint64_t refused() const { return refused_; }
    uint64_t applied() const { return applied_; }

private:
    Store& store_;
    const Clock& clock_;
    Roster& roster_;
    std::string key_;
    std::string site_;
    int64_t max_age_ms_;
    std::atomic<uint64_t> refused_{0};
    std::atomic<uint64_t> applied_{0};
};

}  // namespace caregate::city
