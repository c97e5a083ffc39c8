// The kiosk over HTTPS (#15): `caregate tls selfsigned` makes a usable pair, the loader refuses plain
// HTTP on a network address, the daemon serves HTTPS with the site certificate and marks the session
// cookie Secure, and a wrong key is named at startup.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>

#include "tests/support/test_support.hpp"

using namespace caregate::testing;

namespace {

std::string config(const TempDir& dir, const std::string& kiosk) {
    return "site: {id: t1, name: 测试中心}\nstore: {path: " + dir.file("cg.db") + "}\nkiosk: " + kiosk +
           "\nmqtt: {enabled: false}\nface: {enabled: false}\n";
}

}  // namespace

TEST(KioskTls, SelfSignedPairIsMadeOnceWithTheNamesAndAPrivateKey) {
    TempDir dir;
    std::string out;
    std::string cmd = caregate_bin() + " tls selfsigned --cert " + dir.file("k.crt") + " --key " +
                      dir.file("k.key") + " --host caregate.local --host 192.168.1.20 --host localhost";
    ASSERT_EQ(run(cmd, &out), 0) << out;
    EXPECT_NE(out.find("DNS:caregate.local"), std::string::npos) << out;
    EXPECT_NE(out.find("IP:192.168.1.20"), std::string::npos) << out;
    struct stat st {};
    ASSERT_EQ(::stat(dir.file("k.key").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    // OpenSSL's own tool reads it: a P-256 key, the names, a self-signed server certificate.
    ASSERT_EQ(run("openssl x509 -noout -text -in " + dir.file("k.crt"), &out), 0) << out;
    EXPECT_NE(out.find("DNS:caregate.local, IP Address:192.168.1.20, DNS:localhost"), std::string::npos)
        << out;
    EXPECT_NE(out.find("prime256v1"), std::string::npos) << out;
    EXPECT_NE(out.find("TLS Web Server Authentication"), std::string::npos) << out;
    ASSERT_EQ(run("openssl verify -CAfile " + dir.file("k.crt") + " " + dir.file("k.crt"), &out), 0) << out;
    // Never over an existing pair.
    EXPECT_NE(run(cmd, &out), 0);
    EXPECT_NE(out.find("exists already"), std::string::npos) << out;
}

TEST(KioskTls, PlainHttpOnTheNetworkIsRefusedUnlessAllowed) {
    TempDir dir;
    std::string out;
    write_file(dir.file("a.yaml"), config(dir, "{bind: 0.0.0.0, port: 0}"));
    EXPECT_EQ(run(caregate_bin() + " check-config " + dir.file("a.yaml"), &out), 2);
    EXPECT_NE(out.find("kiosk.bind"), std::string::npos) << out;
    EXPECT_NE(out.find("caregate tls selfsigned"), std::string::npos) << out;
    write_file(dir.file("b.yaml"), config(dir, "{bind: 0.0.0.0, port: 0, allow_plain_http: true}"));
    EXPECT_EQ(run(caregate_bin() + " check-config " + dir.file("b.yaml"), &out), 0) << out;
    write_file(dir.file("c.yaml"), config(dir, "{bind: 0.0.0.0, port: 0, tls_cert_file: /x.crt}"));
    EXPECT_EQ(run(caregate_bin() + " check-config " + dir.file("c.yaml"), &out), 2);
    EXPECT_NE(out.find("give both"), std::string::npos) << out;
}

TEST(KioskTls, TheDaemonServesHttpsWithTheSiteCertificateAndASecureCookie) {
    TempDir dir;
    std::string out;
    ASSERT_EQ(run(caregate_bin() + " tls selfsigned --cert " + dir.file("k.crt") + " --key " +
                      dir.file("k.key") + " --host 127.0.0.1 --host localhost",
                  &out),
              0)
        << out;
    write_file(dir.file("site.yaml"),
               config(dir, "{bind: 127.0.0.1, port: 0, tls_cert_file: " + dir.file("k.crt") +
                               ", tls_key_file: " + dir.file("k.key") + "}"));
    ASSERT_EQ(
        run("echo 'a-long-password-1' | " + caregate_bin() + " staff add nurse --name 王护士 --role staff " +
                "--password-stdin --config " + dir.file("site.yaml"),
            &out),
        0)
        << out;
    Process daemon({caregate_bin(), "run", "--config", dir.file("site.yaml")}, dir.file("log"));
    int port = wait_for_logged_port(dir.file("log"), "kiosk=https://127.0.0.1:", std::chrono::seconds(20));
    ASSERT_GT(port, 0) << read_file(dir.file("log"));
    httplib::SSLClient tls("127.0.0.1", port);
    tls.set_ca_cert_path(dir.file("k.crt").c_str());
    tls.enable_server_certificate_verification(true);
    auto h = tls.Get("/healthz");
    ASSERT_TRUE(h) << "TLS handshake against the site certificate: " << httplib::to_string(h.error());
    EXPECT_EQ(h->status, 200);
    auto login =
        tls.Post("/api/login", R"({"username":"nurse","password":"a-long-password-1"})", "application/json");
    ASSERT_TRUE(login);
    ASSERT_EQ(login->status, 200) << login->body;
    std::string cookie = login->get_header_value("Set-Cookie");
    EXPECT_NE(cookie.find("; Secure"), std::string::npos) << cookie;
    EXPECT_NE(cookie.find("HttpOnly"), std::string::npos) << cookie;
    // Plain HTTP on the same port gets no page.
    httplib::Client plain("127.0.0.1", port);
    plain.set_connection_timeout(2);
    plain.set_read_timeout(2);
    auto p = plain.Get("/healthz");
    EXPECT_TRUE(!p || p->status != 200);
    // A certificate the client does not trust is refused (the site's certificate is what it pins).
    httplib::SSLClient strict("127.0.0.1", port);
    strict.enable_server_certificate_verification(true);
    strict.set_ca_cert_path("/nonexistent-ca.pem");
    EXPECT_FALSE(strict.Get("/healthz"));
}

TEST(KioskTls, AKeyThatIsNotTheCertificatesIsNamedAtStartup) {
    TempDir dir;
    std::string out;
    for (auto n : {"a", "b"})
        ASSERT_EQ(run(caregate_bin() + " tls selfsigned --cert " + dir.file(std::string(n) + ".crt") +
                          " --key " + dir.file(std::string(n) + ".key") + " --host localhost",
                      &out),
                  0)
            << out;
    write_file(dir.file("site.yaml"),
               config(dir, "{bind: 127.0.0.1, port: 0, tls_cert_file: " + dir.file("a.crt") +
                               ", tls_key_file: " + dir.file("b.key") + "}"));
    EXPECT_EQ(run(caregate_bin() + " tls check --config " + dir.file("site.yaml"), &out), 1);
    EXPECT_NE(out.find("is not the key of"), std::string::npos) << out;
    Process daemon({caregate_bin(), "run", "--config", dir.file("site.yaml")}, dir.file("log"));
    EXPECT_NE(daemon.wait(std::chrono::seconds(20)), 0);
    EXPECT_NE(read_file(dir.file("log")).find("is not the key of"), std::string::npos)
        << read_file(dir.file("log"));
}
