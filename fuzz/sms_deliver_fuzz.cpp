// libFuzzer target: SMS-DELIVER PDUs as a modem returns them (AT+CMGL), i.e. whatever a phone or the
// network sent the box. Every input must end in a decoded message or nullopt; a decoded text must be
// valid UTF-8 and bounded. Anything else (crash, sanitizer report, exception) is a finding.
#include <cstdint>
#include <string>

#include "notify/sms_pdu.hpp"

namespace {
bool valid_utf8(const std::string& s) {
    size_t i = 0;
    while (i < s.size()) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (n == 0 || i + n > s.size()) return false;
        for (size_t k = 1; k < n; ++k)
            if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
        i += n;
    }
    return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // The modem hands over hex; fuzz both raw hex text and the hex of raw bytes.
    std::string as_text(reinterpret_cast<const char*>(data), size);
    static const char* digits = "0123456789ABCDEF";
    std::string as_hex;
    for (size_t i = 0; i < size; ++i) {
        as_hex += digits[data[i] >> 4];
        as_hex += digits[data[i] & 15];
    }
    for (const std::string* in : {&as_text, &as_hex}) {
        auto m = caregate::notify::decode_deliver(*in);
        if (m && (!valid_utf8(m->text) || !valid_utf8(m->from) || m->text.size() > 4 * 1024))
            __builtin_trap();
    }
    return 0;
}
