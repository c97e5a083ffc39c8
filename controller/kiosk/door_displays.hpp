// Door screens (门口屏) as paired devices: the door page shows elders' names and temperatures, so it
// is served only to a staff login or to a screen an admin paired. An admin makes a one-time code
// (kiosk or `caregate door pair`), the screen opens /door?pair=CODE once and gets a long-lived token
// in a cookie; only hashes are stored, and a screen can be revoked.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "controller/core/clock.hpp"
#include "controller/core/store.hpp"

namespace caregate {

struct DoorDisplay {
    int64_t id = 0;
    std::string name;
    std::string created_by;
    int64_t created_at = 0;
    std::optional<int64_t> last_seen, revoked_at;
};

class DoorDisplays {
public:
    static constexpr int64_t kCodeLifetimeMs = 10 * 60 * 1000;
    DoorDisplays(Store& store, const Clock& clock) : store_(store), clock_(clock) {}
    // A one-time pairing code like "K7M2-9QXP" (40 bits), valid 10 minutes; audited.
    std::string new_code(const std::string& name, const std::string& actor);
    // The screen's token for an unused, unexpired code (the code is used up), or nullopt.
    std::optional<std::string> pair(const std::string& code);
    // A paired, unrevoked screen's token (its last_seen is kept to the minute).
    bool valid(const std::string& token);
    std::vector<DoorDisplay> list();
    bool revoke(int64_t id, const std::string& actor);

private:
    Store& store_;
    const Clock& clock_;
};

}  // namespace caregate
