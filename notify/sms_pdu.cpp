#include "notify/sms_pdu.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace caregate::notify {
namespace {

constexpr char32_t kNone = 0xFFFFFFFF;
constexpr char32_t kReplacement = 0xFFFD;
constexpr uint8_t kEscape = 0x1B;

// TS 23.038 §6.2.1 default alphabet; 0x1B is the escape to the extension table.
constexpr char32_t kGsmBasic[128] = {
    U'@', U'£', U'$', U'¥', U'è', U'é', U'ù', U'ì',  U'ò', U'Ç', U'\n', U'Ø',  U'ø', U'\r', U'Å', U'å',
    U'Δ', U'_', U'Φ', U'Γ', U'Λ', U'Ω', U'Π', U'Ψ',  U'Σ', U'Θ', U'Ξ',  kNone, U'Æ', U'æ',  U'ß', U'É',
    U' ', U'!', U'"', U'#', U'¤', U'%', U'&', U'\'', U'(', U')', U'*',  U'+',  U',', U'-',  U'.', U'/',
    U'0', U'1', U'2', U'3', U'4', U'5', U'6', U'7',  U'8', U'9', U':',  U';',  U'<', U'=',  U'>', U'?',
    U'¡', U'A', U'B', U'C', U'D', U'E', U'F', U'G',  U'H', U'I', U'J',  U'K',  U'L', U'M',  U'N', U'O',
    U'P', U'Q', U'R', U'S', U'T', U'U', U'V', U'W',  U'X', U'Y', U'Z',  U'Ä',  U'Ö', U'Ñ',  U'Ü', U'§',
    U'¿', U'a', U'b', U'c', U'd', U'e', U'f', U'g',  U'h', U'i', U'j',  U'k',  U'l', U'm',  U'n', U'o',
    U'p', U'q', U'r', U's', U't', U'u', U'v', U'w',  U'x', U'y', U'z',  U'ä',  U'ö', U'ñ',  U'ü', U'à',
};

// TS 23.038 §6.2.1.1 extension table, decoding only: texts with these characters go out as UCS-2,
// which keeps the 7-bit splitter free of two-septet characters.
char32_t gsm_extension(uint8_t code) {
    switch (code) {
        case 0x0A:
            return 0x0C;  // page break
        case 0x14:
            return U'^';
        case 0x28:
            return U'{';
        case 0x29:
            return U'}';
        case 0x2F:
            return U'\\';
        case 0x3C:
            return U'[';
        case 0x3D:
            return U'~';
        case 0x3E:
            return U']';
        case 0x40:
            return U'|';
        case 0x65:
            return U'€';
        default:
            return kNone;
    }
}

int gsm_code(char32_t c) {
    if ((c >= U'a' && c <= U'z') || (c >= U'A' && c <= U'Z') || (c >= U'%' && c <= U'?') ||
        (c >= U' ' && c <= U'#'))
        return static_cast<int>(c);  // the ranges where the default alphabet equals ASCII
    for (int i = 0; i < 128; ++i)
        if (kGsmBasic[i] == c) return i;
    return -1;
}

void append_utf8(std::string& out, char32_t c) {
    if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) c = kReplacement;
    if (c < 0x80) {
        out += static_cast<char>(c);
    } else if (c < 0x800) {
        out += static_cast<char>(0xC0 | (c >> 6));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        out += static_cast<char>(0xE0 | (c >> 12));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (c >> 18));
        out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    }
}

// Strict UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF).
std::u32string decode_utf8(const std::string& s) {
    std::u32string out;
    size_t i = 0;
    while (i < s.size()) {
        const auto b0 = static_cast<uint8_t>(s[i]);
        int extra = 0;
        char32_t c = 0;
        char32_t min = 0;
        if (b0 < 0x80) {
            c = b0;
        } else if ((b0 & 0xE0) == 0xC0) {
            extra = 1;
            c = b0 & 0x1F;
            min = 0x80;
        } else if ((b0 & 0xF0) == 0xE0) {
            extra = 2;
            c = b0 & 0x0F;
            min = 0x800;
        } else if ((b0 & 0xF8) == 0xF0) {
            extra = 3;
            c = b0 & 0x07;
            min = 0x10000;
        } else {
            throw std::invalid_argument("text is not valid UTF-8 (byte " + std::to_string(i) + ")");
        }
        if (s.size() - i <= static_cast<size_t>(extra))
            throw std::invalid_argument("text is not valid UTF-8 (truncated at byte " + std::to_string(i) +
                                        ")");
        for (int k = 1; k <= extra; ++k) {
            const auto b = static_cast<uint8_t>(s[i + k]);
            if ((b & 0xC0) != 0x80)
                throw std::invalid_argument("text is not valid UTF-8 (byte " + std::to_string(i + k) + ")");
            c = (c << 6) | (b & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            throw std::invalid_argument("text is not valid UTF-8 (byte " + std::to_string(i) + ")");
        out += c;
        i += extra + 1;
    }
    return out;
}

struct Address {
    uint8_t type = 0x81;
    std::string digits;
};

Address parse_number(const std::string& number) {
    if (number.empty()) throw std::invalid_argument("phone number is empty");
    Address a;
    size_t start = 0;
    if (number[0] == '+') {
        a.type = 0x91;  // international, ISDN/E.164
        start = 1;
    }
    for (size_t i = start; i < number.size(); ++i) {
        if (number[i] < '0' || number[i] > '9')
            throw std::invalid_argument("phone number '" + number + "' has a non-digit at position " +
                                        std::to_string(i));
        a.digits += number[i];
    }
    if (a.digits.empty()) throw std::invalid_argument("phone number '" + number + "' has no digits");
    if (a.digits.size() > 20)
        throw std::invalid_argument("phone number '" + number + "' has more than 20 digits");
    return a;
}

// Septets placed at septet index first_septet of the user data (after a UDH and its fill bits).
void pack_septets(const std::vector<uint8_t>& septets, size_t first_septet, std::vector<uint8_t>& ud) {
    const size_t total_bits = (first_septet + septets.size()) * 7;
    ud.resize((total_bits + 7) / 8, 0);
    for (size_t i = 0; i < septets.size(); ++i) {
        const size_t bit = (first_septet + i) * 7;
        const size_t byte = bit / 8;
        const unsigned shift = bit % 8;
        ud[byte] |= static_cast<uint8_t>(septets[i] << shift);
        if (shift > 1) ud[byte + 1] |= static_cast<uint8_t>(septets[i] >> (8 - shift));
    }
}

const char kHex[] = "0123456789ABCDEF";

std::string to_hex(const std::vector<uint8_t>& bytes) {
    std::string s;
    s.reserve(bytes.size() * 2);
    for (uint8_t b : bytes) {
        s += kHex[b >> 4];
        s += kHex[b & 0x0F];
    }
    return s;
}

SubmitPdu make_submit(const Address& to, bool ucs2, const std::vector<uint8_t>* udh, uint8_t udl,
                      const std::vector<uint8_t>& ud) {
    std::vector<uint8_t> t;
    // SMS-SUBMIT, relative validity period present, UDHI when there is a header.
    t.push_back(static_cast<uint8_t>(0x01 | 0x10 | (udh ? 0x40 : 0x00)));
    t.push_back(0x00);  // TP-MR: the modem assigns it
    t.push_back(static_cast<uint8_t>(to.digits.size()));
    t.push_back(to.type);
    for (size_t i = 0; i < to.digits.size(); i += 2) {
        const uint8_t lo = static_cast<uint8_t>(to.digits[i] - '0');
        const uint8_t hi = i + 1 < to.digits.size() ? static_cast<uint8_t>(to.digits[i + 1] - '0') : 0x0F;
        t.push_back(static_cast<uint8_t>(hi << 4 | lo));
    }
    t.push_back(0x00);                // TP-PID: plain short message
    t.push_back(ucs2 ? 0x08 : 0x00);  // TP-DCS: UCS-2 or default alphabet, no class
    t.push_back(0xAA);                // TP-VP: 4 days; an alarm older than that is noise
    t.push_back(udl);
    t.insert(t.end(), ud.begin(), ud.end());
    return SubmitPdu{"00" + to_hex(t), static_cast<int>(t.size())};
}

std::vector<uint8_t> concat_udh(uint8_t ref, size_t total, size_t seq) {
    return {0x05, 0x00, 0x03, ref, static_cast<uint8_t>(total), static_cast<uint8_t>(seq)};
}

void check_parts(size_t n) {
    if (n > 255) throw std::invalid_argument("text too long: " + std::to_string(n) + " parts (at most 255)");
}

// --- decoding ---

// Longest SMS-DELIVER: SMSC 1+11, TPDU 1+12+1+1+7+1+140; a little slack, then it is not a PDU.
constexpr size_t kMaxPduOctets = 200;

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

std::optional<std::vector<uint8_t>> from_hex(const std::string& hex) {
    size_t b = 0;
    size_t e = hex.size();
    while (b < e && (hex[b] == ' ' || hex[b] == '\r' || hex[b] == '\n' || hex[b] == '\t')) ++b;
    while (e > b && (hex[e - 1] == ' ' || hex[e - 1] == '\r' || hex[e - 1] == '\n' || hex[e - 1] == '\t'))
        --e;
    const size_t n = e - b;
    if (n == 0 || n % 2 != 0 || n / 2 > kMaxPduOctets) return std::nullopt;
    std::vector<uint8_t> out(n / 2);
    for (size_t i = 0; i < out.size(); ++i) {
        const int hi = hex_value(hex[b + 2 * i]);
        const int lo = hex_value(hex[b + 2 * i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out[i] = static_cast<uint8_t>(hi << 4 | lo);
    }
    return out;
}

// Bounds-checked reader: every access goes through take(), which refuses to pass the end.
class Reader {
public:
    explicit Reader(const std::vector<uint8_t>& d) : d_(d) {}
    bool byte(uint8_t& v) {
        if (pos_ >= d_.size()) return false;
        v = d_[pos_++];
        return true;
    }
    bool take(size_t n, const uint8_t*& p) {
        if (n > d_.size() - pos_) return false;
        p = d_.data() + pos_;
        pos_ += n;
        return true;
    }
    size_t left() const { return d_.size() - pos_; }

private:
    const std::vector<uint8_t>& d_;
    size_t pos_ = 0;
};

// Septet i of a packed stream (caller has checked that the stream holds it).
uint8_t septet_at(const uint8_t* p, size_t i) {
    const size_t bit = i * 7;
    const size_t byte = bit / 8;
    const unsigned shift = bit % 8;
    unsigned v = p[byte] >> shift;
    if (shift > 1) v |= static_cast<unsigned>(p[byte + 1]) << (8 - shift);
    return static_cast<uint8_t>(v & 0x7F);
}

std::string gsm7_to_utf8(const uint8_t* p, size_t first, size_t count) {
    std::string out;
    for (size_t i = first; i < first + count; ++i) {
        const uint8_t s = septet_at(p, i);
        if (s != kEscape) {
            append_utf8(out, kGsmBasic[s]);
            continue;
        }
        if (i + 1 >= first + count) break;  // a dangling escape shows nothing
        const uint8_t x = septet_at(p, ++i);
        const char32_t ext = gsm_extension(x);
        // 23.038: an unknown extension code shows the basic table's character.
        append_utf8(out, ext != kNone ? ext : (x == kEscape ? U' ' : kGsmBasic[x]));
    }
    return out;
}

std::string ucs2_to_utf8(const uint8_t* p, size_t octets) {
    std::string out;
    for (size_t i = 0; i + 1 < octets; i += 2) {
        const char32_t u = static_cast<char32_t>(p[i] << 8 | p[i + 1]);
        if (u >= 0xD800 && u <= 0xDBFF && i + 3 < octets) {
            const char32_t lo = static_cast<char32_t>(p[i + 2] << 8 | p[i + 3]);
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                append_utf8(out, 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00));
                i += 2;
                continue;
            }
        }
        append_utf8(out, u);  // a lone surrogate becomes U+FFFD there
    }
    return out;
}

enum class Alphabet { gsm7, octets, ucs2, unsupported };

// TS 23.038 §4; reserved coding groups are read as the default alphabet, as that section asks.
Alphabet alphabet_of(uint8_t dcs) {
    if ((dcs & 0x80) == 0) {  // general data coding (00xx) and automatic deletion (01xx)
        if (dcs & 0x20) return Alphabet::unsupported;  // compressed
        switch ((dcs >> 2) & 0x03) {
            case 1:
                return Alphabet::octets;
            case 2:
                return Alphabet::ucs2;
            default:
                return Alphabet::gsm7;
        }
    }
    switch (dcs & 0xF0) {
        case 0xE0:
            return Alphabet::ucs2;  // message waiting, UCS-2
        case 0xF0:
            return (dcs & 0x04) ? Alphabet::octets : Alphabet::gsm7;
        default:
            return Alphabet::gsm7;
    }
}

std::optional<std::string> decode_address(Reader& r) {
    uint8_t len = 0;
    uint8_t type = 0;
    const uint8_t* p = nullptr;
    if (!r.byte(len) || len > 20 || !r.byte(type) || !r.take((len + 1u) / 2, p)) return std::nullopt;
    if ((type & 0x70) == 0x50) {  // alphanumeric: GSM 7-bit packed into len semi-octets
        return gsm7_to_utf8(p, 0, len * 4u / 7);
    }
    std::string out = (type & 0x70) == 0x10 ? "+" : "";
    static const char kDigits[] = "0123456789*#abc";
    for (size_t i = 0; i < len; ++i) {
        const uint8_t nib = (i % 2 == 0) ? (p[i / 2] & 0x0F) : (p[i / 2] >> 4);
        if (nib == 0x0F) break;  // filler
        out += kDigits[nib];
    }
    return out;
}

}  // namespace

std::vector<SubmitPdu> encode_submit(const std::string& number, const std::string& utf8_text,
                                     uint8_t concat_ref) {
    const Address to = parse_number(number);
    const std::u32string text = decode_utf8(utf8_text);

    std::vector<uint8_t> septets;
    bool gsm = true;
    for (char32_t c : text) {
        const int code = gsm_code(c);
        if (code < 0) {
            gsm = false;
            break;
        }
        septets.push_back(static_cast<uint8_t>(code));
    }

    std::vector<SubmitPdu> out;
    if (gsm) {
        if (septets.size() <= 160) {
            std::vector<uint8_t> ud;
            pack_septets(septets, 0, ud);
            out.push_back(make_submit(to, false, nullptr, static_cast<uint8_t>(septets.size()), ud));
            return out;
        }
        const size_t parts = (septets.size() + 152) / 153;
        check_parts(parts);
        for (size_t k = 0; k < parts; ++k) {
            const auto first = septets.begin() + static_cast<std::ptrdiff_t>(k * 153);
            const auto last = k + 1 == parts ? septets.end() : first + 153;
            const std::vector<uint8_t> chunk(first, last);
            const std::vector<uint8_t> udh = concat_udh(concat_ref, parts, k + 1);
            std::vector<uint8_t> ud;
            // 6 header octets + 1 fill bit = 7 septets before the text.
            pack_septets(chunk, 7, ud);
            for (size_t i = 0; i < udh.size(); ++i) ud[i] = udh[i];
            out.push_back(make_submit(to, false, &udh, static_cast<uint8_t>(7 + chunk.size()), ud));
        }
        return out;
    }

    std::vector<uint16_t> units;
    for (char32_t c : text) {
        if (c >= 0x10000) {
            const char32_t v = c - 0x10000;
            units.push_back(static_cast<uint16_t>(0xD800 + (v >> 10)));
            units.push_back(static_cast<uint16_t>(0xDC00 + (v & 0x3FF)));
        } else {
            units.push_back(static_cast<uint16_t>(c));
        }
    }
    auto append_units = [](std::vector<uint8_t>& ud, const uint16_t* u, size_t n) {
        for (size_t i = 0; i < n; ++i) {
            ud.push_back(static_cast<uint8_t>(u[i] >> 8));
            ud.push_back(static_cast<uint8_t>(u[i] & 0xFF));
        }
    };
    if (units.size() <= 70) {
        std::vector<uint8_t> ud;
        append_units(ud, units.data(), units.size());
        out.push_back(make_submit(to, true, nullptr, static_cast<uint8_t>(ud.size()), ud));
        return out;
    }
    // Part boundaries first: a part never ends between the two halves of a surrogate pair.
    std::vector<std::pair<size_t, size_t>> bounds;
    for (size_t pos = 0; pos < units.size();) {
        size_t n = std::min<size_t>(67, units.size() - pos);
        if (pos + n < units.size() && units[pos + n - 1] >= 0xD800 && units[pos + n - 1] <= 0xDBFF) --n;
        bounds.emplace_back(pos, n);
        pos += n;
    }
    check_parts(bounds.size());
    for (size_t k = 0; k < bounds.size(); ++k) {
        const std::vector<uint8_t> udh = concat_udh(concat_ref, bounds.size(), k + 1);
        std::vector<uint8_t> ud = udh;
        append_units(ud, units.data() + bounds[k].first, bounds[k].second);
        out.push_back(make_submit(to, true, &udh, static_cast<uint8_t>(ud.size()), ud));
    }
    return out;
}

std::optional<IncomingSms> decode_deliver(const std::string& hex) {
    const auto bytes = from_hex(hex);
    if (!bytes) return std::nullopt;
    Reader r(*bytes);

    uint8_t smsc_len = 0;
    const uint8_t* skip = nullptr;
    if (!r.byte(smsc_len) || smsc_len > 12 || !r.take(smsc_len, skip)) return std::nullopt;

    uint8_t first = 0;
    if (!r.byte(first) || (first & 0x03) != 0x00) return std::nullopt;  // not SMS-DELIVER
    const bool udhi = (first & 0x40) != 0;

    IncomingSms sms;
    auto from = decode_address(r);
    if (!from) return std::nullopt;
    sms.from = std::move(*from);

    uint8_t pid = 0;
    uint8_t dcs = 0;
    uint8_t udl = 0;
    if (!r.byte(pid) || !r.byte(dcs) || !r.take(7, skip) || !r.byte(udl)) return std::nullopt;
    const Alphabet alphabet = alphabet_of(dcs);
    if (alphabet == Alphabet::unsupported) return std::nullopt;

    // The user data must be exactly what TP-UDL announces: short is truncation, long is not a PDU.
    const size_t ud_octets = alphabet == Alphabet::gsm7 ? (udl * 7u + 7) / 8 : udl;
    if (ud_octets > 140 || r.left() != ud_octets) return std::nullopt;
    const uint8_t* ud = nullptr;
    if (!r.take(ud_octets, ud)) return std::nullopt;

    size_t header_octets = 0;
    if (udhi) {
        if (ud_octets == 0) return std::nullopt;
        header_octets = ud[0] + 1u;
        if (header_octets > ud_octets) return std::nullopt;
        if (alphabet == Alphabet::gsm7 && header_octets * 8 > udl * 7u) return std::nullopt;
        for (size_t i = 1; i < header_octets;) {  // information elements must tile the header
            if (i + 2 > header_octets) return std::nullopt;
            const size_t ie_len = ud[i + 1];
            if (i + 2 + ie_len > header_octets) return std::nullopt;
            i += 2 + ie_len;
        }
    }

    switch (alphabet) {
        case Alphabet::gsm7: {
            const size_t header_septets = (header_octets * 8 + 6) / 7;
            sms.text = gsm7_to_utf8(ud, header_septets, udl - header_septets);
            break;
        }
        case Alphabet::octets:
            // 8-bit data has no character set; Latin-1 at least keeps ASCII replies readable.
            for (size_t i = header_octets; i < ud_octets; ++i) append_utf8(sms.text, ud[i]);
            break;
        case Alphabet::ucs2:
            if ((ud_octets - header_octets) % 2 != 0) return std::nullopt;
            sms.text = ucs2_to_utf8(ud + header_octets, ud_octets - header_octets);
            break;
        case Alphabet::unsupported:
            return std::nullopt;
    }
    return sms;
}

}  // namespace caregate::notify
