#include "controller/kiosk/tls_cert.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <filesystem>
#include <memory>
#include <stdexcept>

namespace caregate::tls {

namespace {
template <typename T, void (*F)(T*)>
struct Free {
    void operator()(T* p) const { F(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Free<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Free<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Free<BIO, BIO_free_all>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Free<X509_EXTENSION, X509_EXTENSION_free>>;
using NamesPtr = std::unique_ptr<GENERAL_NAMES, Free<GENERAL_NAMES, GENERAL_NAMES_free>>;

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error("site certificate: " + what); }

void add_ext(X509* cert, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
    if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) fail("cannot add the extension " + value);
}

bool is_ip(const std::string& h) {
    return !h.empty() &&
           (h.find(':') != std::string::npos || h.find_first_not_of("0123456789.") == std::string::npos);
}
}  // namespace

void write_self_signed(const std::string& cert_path, const std::string& key_path,
                       const SelfSignedOptions& o) {
    namespace fs = std::filesystem;
    for (auto& p : {cert_path, key_path})
        if (fs::exists(p)) fail(p + " exists already; remove it first, or write the new pair elsewhere");
    if (o.hosts.empty()) fail("name at least one host name or address (--host)");
    if (o.days < 1 || o.days > 3650) fail("days must be from 1 to 3650");
    std::string san;
    for (auto& h : o.hosts) {
        if (h.empty() || h.size() > 253 || h.find_first_of(", \t\r\n") != std::string::npos)
            fail("'" + h + "' is not a host name or an address");
        san += (san.empty() ? "" : ",") + std::string(is_ip(h) ? "IP:" : "DNS:") + h;
    }
    PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    if (!key) fail("EC key generation failed");
    X509Ptr cert(X509_new());
    if (!cert) fail("X509_new failed");
    unsigned char serial[16];
    if (RAND_bytes(serial, sizeof serial) != 1) fail("no randomness for the serial number");
    serial[0] &= 0x7F;  // positive
    std::unique_ptr<BIGNUM, Free<BIGNUM, BN_free>> bn(BN_bin2bn(serial, sizeof serial, nullptr));
    if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get())) ||
        X509_set_version(cert.get(), 2) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) == nullptr ||
        X509_gmtime_adj(X509_getm_notAfter(cert.get()), long(o.days) * 86400) == nullptr ||
        X509_set_pubkey(cert.get(), key.get()) != 1)
        fail("cannot set the certificate's fields");
    X509_NAME* name = X509_get_subject_name(cert.get());
    if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(o.common_name.c_str()), -1, -1,
                                   0) != 1 ||
        X509_set_issuer_name(cert.get(), name) != 1)
        fail("cannot set the certificate's name");
    add_ext(cert.get(), NID_basic_constraints, "critical,CA:FALSE");
    add_ext(cert.get(), NID_key_usage, "critical,digitalSignature");
    add_ext(cert.get(), NID_ext_key_usage, "serverAuth");
    add_ext(cert.get(), NID_subject_alt_name, san);
    if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) fail("signing failed");

    // The key is created 0600 before a byte is written.
    mode_t old = ::umask(077);
    BioPtr key_bio(BIO_new_file(key_path.c_str(), "w"));
    ::umask(old);
    if (!key_bio ||
        PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
        fail("cannot write " + key_path);
    key_bio.reset();
    BioPtr cert_bio(BIO_new_file(cert_path.c_str(), "w"));
    if (!cert_bio || PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1) fail("cannot write " + cert_path);
    ::chmod(cert_path.c_str(), 0644);
}

CertificateInfo check_pair(const std::string& cert_path, const std::string& key_path) {
    BioPtr cb(BIO_new_file(cert_path.c_str(), "r"));
    if (!cb) fail("cannot read " + cert_path + " (kiosk.tls_cert_file)");
    X509Ptr cert(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
    if (!cert) fail(cert_path + " is not a PEM certificate (kiosk.tls_cert_file)");
    BioPtr kb(BIO_new_file(key_path.c_str(), "r"));
    if (!kb) fail("cannot read " + key_path + " (kiosk.tls_key_file)");
    PkeyPtr key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
    if (!key) fail(key_path + " is not a PEM private key without a passphrase (kiosk.tls_key_file)");
    if (X509_check_private_key(cert.get(), key.get()) != 1)
        fail(key_path + " is not the key of " + cert_path + " (kiosk.tls_key_file / tls_cert_file)");
    CertificateInfo info;
    NamesPtr names(
        static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)));
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
        const GENERAL_NAME* n = sk_GENERAL_NAME_value(names.get(), i);
        if (n->type == GEN_DNS) {
            info.names.push_back(
                "DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.dNSName)),
                                     ASN1_STRING_length(n->d.dNSName)));
        } else if (n->type == GEN_IPADD) {
            const unsigned char* p = ASN1_STRING_get0_data(n->d.iPAddress);
            if (ASN1_STRING_length(n->d.iPAddress) == 4)
                info.names.push_back("IP:" + std::to_string(p[0]) + "." + std::to_string(p[1]) + "." +
                                     std::to_string(p[2]) + "." + std::to_string(p[3]));
            else
                info.names.push_back("IP:(v6)");
        }
    }
    BioPtr out(BIO_new(BIO_s_mem()));
    ASN1_TIME_print(out.get(), X509_get0_notAfter(cert.get()));
    char* data = nullptr;
    long n = BIO_get_mem_data(out.get(), &data);
    info.not_after.assign(data, static_cast<size_t>(n));
    info.expired = X509_cmp_current_time(X509_get0_notAfter(cert.get())) < 0;
    return info;
}

}  // namespace caregate::tls
