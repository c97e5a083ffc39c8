// The uplink over TLS with a client certificate: a CA, a server and a client certificate made with
// the openssl CLI in the test's folder; Mosquitto requires the client certificate.
#include <gtest/gtest.h>

#include "tests/city/city_test_support.hpp"

using namespace caregate;
using namespace caregate::citytest;
using namespace std::chrono_literals;

namespace ct = caregate::testing;

namespace {

struct Pki {
    std::string dir;
    std::string ca() const { return dir + "/ca.crt"; }
    std::string file(const std::string& n) const { return dir + "/" + n; }
};

void sh(const std::string& cmd) {
    std::string out;
    ASSERT_EQ(ct::run(cmd, &out), 0) << cmd << "\n" << out;
}

// ECDSA P-256 keys: quick to make, and what a city PKI would issue today.
void make_pki(const Pki& p, const std::string& other_ca_dir = "") {
    std::string d = p.dir;
    sh("cd " + d +
       " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
       "-subj /CN=caregate-test-ca -keyout ca.key -out ca.crt");
    ct::write_file(d + "/server.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    for (std::string who : {"server", "client"}) {
        sh("cd " + d + " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=" +
           (who == "server" ? std::string("127.0.0.1") : std::string("caregate-wz-t1")) + " -keyout " + who +
           ".key -out " + who + ".csr");
        sh("cd " + d + " && openssl x509 -req -in " + who +
           ".csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 " +
           (who == "server" ? "-extfile server.ext " : "") + "-out " + who + ".crt");
    }
    (void)other_ca_dir;
}

std::string tls_listener(const Pki& p, int port) {
    return "listener " + std::to_string(port) + " 127.0.0.1\ncafile " + p.ca() + "\ncertfile " +
           p.file("server.crt") + "\nkeyfile " + p.file("server.key") +
           "\nrequire_certificate true\ntls_version tlsv1.2\n";
}

// How many times `what` appears in a broker's log: each refused TLS handshake is logged once.
size_t occurrences(const std::string& log, const std::string& what) {
    size_t n = 0;
    for (size_t at = log.find(what); at != std::string::npos; at = log.find(what, at + what.size())) ++n;
    return n;
}

TEST(CityTls, UplinkWithClientCertificateDeliversAndAStrangerIsRefused) {
    ct::TempDir dir;
    Pki pki{dir.path()};
    ASSERT_NO_FATAL_FAILURE(make_pki(pki));
    // plain listener for the receiver, TLS for the box
    Broker broker("", [&](int port) { return tls_listener(pki, port); });
    int tls_port = broker.second_port();
    Receiver rx(broker.uri(), dir.file("rx.db"));

    SystemClock clock;
    Store store(dir.file("site.db"));
    Outbox out("t1", "wz");
    fill(store, out, 300);
    auto o = uplink_options("ssl://127.0.0.1:" + std::to_string(tls_port));
    o.ca_file = pki.ca();
    o.cert_file = pki.file("client.crt");
    o.key_file = pki.file("client.key");
    city::CityUplink up(store, clock, o);
    up.start();
    ASSERT_TRUE(wait_until([&] { return up.pending() == 0; }, 30s)) << broker.log();
    ASSERT_TRUE(wait_until([&] { return rx.count() == 300; }, 10s)) << rx.count();
    EXPECT_TRUE(up.stats().connected);
    up.stop();

    // Without a client certificate the broker refuses the box, and nothing is marked sent.
    Store other(dir.file("other.db"));
    fill(other, out, 5, 1000);
    auto no_cert = o;
    no_cert.client_id = "caregate-wz-t2";
    no_cert.cert_file.clear();
    no_cert.key_file.clear();
    city::CityUplink stranger(other, clock, no_cert);
    stranger.start();
    // Not a quiet period: wait until the broker has refused the box (a handshake without a certificate).
    EXPECT_TRUE(
        wait_until([&] { return occurrences(broker.log(), "peer did not return a certificate") >= 1; }, 20s))
        << broker.log();
    EXPECT_FALSE(stranger.stats().connected);
    EXPECT_EQ(stranger.pending(), 5);

    // A broker whose certificate our CA did not sign is not trusted either.
    ct::TempDir dir2;
    Pki rogue{dir2.path()};
    ASSERT_NO_FATAL_FAILURE(make_pki(rogue));
    Broker rogue_broker("", [&](int port) { return tls_listener(rogue, port); });
    int rogue_port = rogue_broker.second_port();
    auto to_rogue = o;
    to_rogue.uri = "ssl://127.0.0.1:" + std::to_string(rogue_port);
    to_rogue.client_id = "caregate-wz-t3";
    city::CityUplink fooled(other, clock, to_rogue);
    fooled.start();
    // Not a quiet period: wait until the box has refused the rogue broker's certificate (its alert).
    EXPECT_TRUE(wait_until([&] { return occurrences(rogue_broker.log(), "unknown ca") >= 1; }, 20s))
        << rogue_broker.log();
    EXPECT_FALSE(fooled.stats().connected);
    EXPECT_EQ(fooled.pending(), 5);
}

}  // namespace
