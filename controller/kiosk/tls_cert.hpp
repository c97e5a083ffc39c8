// The kiosk's site certificate: `caregate tls selfsigned` makes one for a new site (a P-256 key and
// a self-signed certificate naming the box's host names and addresses), and the daemon checks the
// pair it is given before serving HTTPS with it.
#pragma once

#include <string>
#include <vector>

namespace caregate::tls {

struct SelfSignedOptions {
    std::vector<std::string> hosts = {"localhost", "127.0.0.1"};  // DNS names or IP addresses
    int days = 825;                                               // what browsers still accept
    std::string common_name = "CareGate kiosk";
};

// Writes `cert_path` (PEM, 0644) and `key_path` (PEM, 0600); throws std::runtime_error naming the
// step that failed. Refuses to overwrite either file.
void write_self_signed(const std::string& cert_path, const std::string& key_path, const SelfSignedOptions& o);

// What a certificate says of itself, for the CLI and the startup log: subject names, expiry.
struct CertificateInfo {
    std::vector<std::string> names;  // subjectAltName entries (DNS:…, IP:…)
    std::string not_after;           // as OpenSSL prints it
    bool expired = false;
};
// Throws std::runtime_error naming the file when it is not a readable PEM certificate, or when the
// key file does not hold the matching private key.
CertificateInfo check_pair(const std::string& cert_path, const std::string& key_path);

}  // namespace caregate::tls
