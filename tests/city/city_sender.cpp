// Runs only the city uplink over a site database until killed: the SIGKILL test's "daemon".
// Usage: city_sender DB URI CLIENT_ID
#include <chrono>
#include <cstdio>
#include <thread>

#include "controller/city/uplink.hpp"

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: city_sender DB URI CLIENT_ID\n");
        return 2;
    }
    caregate::SystemClock clock;
    caregate::Store store(argv[1]);
    caregate::city::UplinkOptions o;
    o.uri = argv[2];
    o.client_id = argv[3];
    o.region = "wz";
    o.site = "t1";
    caregate::city::CityUplink up(store, clock, o);
    up.start();
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
}
