// The reference receiver for the city side (`caregate city-receiver`): subscribes to every site of a
// region, validates each message against the JSON Schemas, dedupes by message id and stores it in its
// own SQLite. A working example of docs/city-exchange.md for city integrators, and the tests' judge.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace caregate::city {

struct ReceiverOptions {
    std::string uri;  // tcp://host:1883 or ssl://host:8883
    std::string region;
    std::string db_path;
    std::string schemas_dir;
    std::string client_id;  // default caregate-city-receiver-<region>; fixed, for a persistent session
    std::string ca_file, cert_file, key_file;  // for ssl://
};

// Read from other threads while the receiver runs, hence atomics.
struct ReceiverStats {
    std::atomic<uint64_t> received{0}, stored{0}, duplicates{0}, invalid{0};
    std::atomic<bool> subscribed{false};  // the subscription is acknowledged: nothing published now is missed
};

// Runs until `stop`; returns 0, or 1 when the schemas or the database cannot be opened.
int run_city_receiver(const ReceiverOptions& opts, std::atomic<bool>& stop, ReceiverStats* stats = nullptr);
int run_city_receiver(const std::string& uri, const std::string& region, const std::string& db_path,
                      const std::string& schemas_dir, std::atomic<bool>& stop,
                      ReceiverStats* stats = nullptr);

}  // namespace caregate::city
