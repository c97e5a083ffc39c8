// SMS PDU encoder/decoder against published vectors, plus round trips through a SUBMIT decoder written
// here (not the one in notify/) so an encoder bug is not mirrored by its own inverse.
#include "notify/sms_pdu.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace caregate::notify {
namespace {

// --- a small, independent SMS-SUBMIT reader for the tests ---

std::vector<uint8_t> bytes_of(const std::string& hex) {
    std::vector<uint8_t> out;
    for (size_t i = 0; i + 1 < hex.size(); i += 2)
        out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    return out;
}

void put_utf8(std::string& s, uint32_t c) {
    if (c < 0x80) {
        s += static_cast<char>(c);
    } else if (c < 0x800) {
        s += static_cast<char>(0xC0 | (c >> 6));
        s += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        s += static_cast<char>(0xE0 | (c >> 12));
        s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        s += static_cast<char>(0x80 | (c & 0x3F));
    } else {
        s += static_cast<char>(0xF0 | (c >> 18));
        s += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
        s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        s += static_cast<char>(0x80 | (c & 0x3F));
    }
}

// Only what the encoder may emit in 7-bit: the ASCII-identical ranges plus a few checked by name.
std::string test_gsm_char(uint8_t s) {
    if ((s >= 0x20 && s <= 0x23) || (s >= 0x25 && s <= 0x3F) || (s >= 0x41 && s <= 0x5A) ||
        (s >= 0x61 && s <= 0x7A))
        return std::string(1, static_cast<char>(s));
    switch (s) {
        case 0x00:
            return "@";
        case 0x02:
            return "$";
        case 0x0A:
            return "\n";
        case 0x0D:
            return "\r";
        case 0x11:
            return "_";
        case 0x05:
            return "é";
        default:
            return "<" + std::to_string(s) + ">";
    }
}

struct DecodedSubmit {
    int smsc_len = -1;
    uint8_t first = 0;
    uint8_t mr = 0;
    std::string to;
    uint8_t dcs = 0;
    int vp = -1;
    int udl = 0;
    std::optional<uint8_t> ref;
    int total = 1;
    int seq = 1;
    int units = 0;  // septets or UTF-16 units of text
    std::string text;
    bool lone_surrogate = false;
    size_t tpdu_octets = 0;
};

DecodedSubmit read_submit(const std::string& hex) {
    const std::vector<uint8_t> b = bytes_of(hex);
    DecodedSubmit d;
    size_t i = 0;
    d.smsc_len = b.at(i++);
    i += static_cast<size_t>(d.smsc_len);
    d.tpdu_octets = b.size() - i;
    d.first = b.at(i++);
    d.mr = b.at(i++);
    const size_t digits = b.at(i++);
    const uint8_t toa = b.at(i++);
    if (toa == 0x91) d.to = "+";
    for (size_t k = 0; k < digits; ++k) {
        const uint8_t o = b.at(i + k / 2);
        d.to += static_cast<char>('0' + ((k % 2) ? (o >> 4) : (o & 0x0F)));
    }
    i += (digits + 1) / 2;
    i++;  // PID
    d.dcs = b.at(i++);
    if ((d.first & 0x18) == 0x10) d.vp = b.at(i++);
    d.udl = b.at(i++);
    const std::vector<uint8_t> ud(b.begin() + static_cast<std::ptrdiff_t>(i), b.end());
    size_t hdr = 0;
    if (d.first & 0x40) {
        hdr = ud.at(0) + 1u;
        for (size_t k = 1; k < hdr; k += 2 + ud.at(k + 1))
            if (ud.at(k) == 0x00) {
                d.ref = ud.at(k + 2);
                d.total = ud.at(k + 3);
                d.seq = ud.at(k + 4);
            }
    }
    if (d.dcs == 0x00) {
        EXPECT_EQ(ud.size(), (static_cast<size_t>(d.udl) * 7 + 7) / 8) << hex;
        const size_t skip = (hdr * 8 + 6) / 7;
        for (size_t k = skip; k < static_cast<size_t>(d.udl); ++k) {
            const size_t bit = k * 7;
            unsigned v = ud.at(bit / 8) >> (bit % 8);
            if (bit % 8 > 1) v |= static_cast<unsigned>(ud.at(bit / 8 + 1)) << (8 - bit % 8);
            d.text += test_gsm_char(static_cast<uint8_t>(v & 0x7F));
            ++d.units;
        }
    } else {
        EXPECT_EQ(ud.size(), static_cast<size_t>(d.udl)) << hex;
        for (size_t k = hdr; k + 1 < ud.size(); k += 2) {
            const uint32_t u = static_cast<uint32_t>(ud[k] << 8 | ud[k + 1]);
            ++d.units;
            if (u >= 0xD800 && u <= 0xDBFF && k + 3 < ud.size()) {
                const uint32_t lo = static_cast<uint32_t>(ud[k + 2] << 8 | ud[k + 3]);
                put_utf8(d.text, 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00));
                k += 2;
                ++d.units;
            } else if (u >= 0xD800 && u <= 0xDFFF) {
                d.lone_surrogate = true;
            } else {
                put_utf8(d.text, u);
            }
        }
    }
    return d;
}

// The TP-UDL octet onwards: compares user data with a published PDU whose header flags differ.
std::string user_data_hex(const std::string& hex) {
    const std::vector<uint8_t> b = bytes_of(hex);
    size_t i = 1 + b.at(0);
    const uint8_t first = b.at(i);
    i += 2;
    i += 2 + (b.at(i) + 1u) / 2;
    i += 2;
    if ((first & 0x18) == 0x10) i += 1;
    if ((first & 0x18) == 0x08 || (first & 0x18) == 0x18) i += 7;
    return hex.substr(2 * i);
}

// A published SUBMIT with its own TP-VP octet replaced by ours (0xAA) and no SMSC: what we must emit.
std::string with_our_validity(const std::string& published_tpdu) {
    const std::vector<uint8_t> b = bytes_of(published_tpdu);
    const size_t vp = 2 + 2 + (b.at(2) + 1u) / 2 + 2;
    return "00" + published_tpdu.substr(0, 2 * vp) + "AA" + published_tpdu.substr(2 * vp + 2);
}

bool valid_utf8(const std::string& s) {
    for (size_t i = 0; i < s.size();) {
        const auto c = static_cast<uint8_t>(s[i]);
        const size_t n = c < 0x80             ? 1
                         : (c & 0xE0) == 0xC0 ? 2
                         : (c & 0xF0) == 0xE0 ? 3
                         : (c & 0xF8) == 0xF0 ? 4
                                              : 0;
        if (n == 0 || i + n > s.size()) return false;
        for (size_t k = 1; k < n; ++k)
            if ((static_cast<uint8_t>(s[i + k]) & 0xC0) != 0x80) return false;
        i += n;
    }
    return true;
}

std::string repeat(const std::string& s, size_t n) {
    std::string out;
    for (size_t i = 0; i < n; ++i) out += s;
    return out;
}

// --- SMS-SUBMIT: published vectors ---

TEST(SmsPduSubmit, HellohelloMatchesTheClassicExample) {
    // "SMS messages and the PDU format" (dreamfabric.com, mirrored at
    // http://www.turbocontrol.com/CoolStuff/SMS%20messages%20and%20the%20PDU%20format.htm):
    // SMS-SUBMIT "hellohello" to +46708251358, MR 00, VP AA (4 days), SMSC from the phone.
    const auto parts = encode_submit("+46708251358", "hellohello", 0);
    ASSERT_EQ(parts.size(), 1u);
    EXPECT_EQ(parts[0].hex, "0011000B916407281553F80000AA0AE8329BFD4697D9EC37");
    EXPECT_EQ(parts[0].tpdu_length, 23);
}

TEST(SmsPduSubmit, NationalNumberUsesTypeOfAddress81) {
    // Same page: "Using the unknown format (i.e. the Type-of-Address 81 instead of 91) would yield the
    // phone number octet sequence 7080523185 (0708251358). Note that this has the length 10 (A)".
    const auto parts = encode_submit("0708251358", "hellohello", 0);
    ASSERT_EQ(parts.size(), 1u);
    EXPECT_EQ(parts[0].hex, "0011000A8170805231850000AA0AE8329BFD4697D9EC37");
    EXPECT_EQ(parts[0].tpdu_length, 22);
}

TEST(SmsPduSubmit, ChineseUcs2MatchesPublishedTutorial) {
    // http://ppmy.cn/news/172198.html ("中文PDU短信", AT+CMGS walk-through): "工作愉快！" to
    // +8613902433649 → 11000D91683109423346F9 0008 00 0A 5DE54F5C61095FEBFF01; that tutorial's
    // validity octet is 00, ours is AA, everything else must be identical.
    const auto parts = encode_submit("+8613902433649", "工作愉快！", 0);
    ASSERT_EQ(parts.size(), 1u);
    EXPECT_EQ(parts[0].hex, with_our_validity("11000D91683109423346F90008000A5DE54F5C61095FEBFF01"));
    EXPECT_EQ(parts[0].hex, "0011000D91683109423346F90008AA0A5DE54F5C61095FEBFF01");
    EXPECT_EQ(parts[0].tpdu_length, 25);
}

TEST(SmsPduSubmit, Ucs2MatchesPythonGsmmodemVector) {
    // python-gsmmodem test/test_pdu.py, test_encodeSmsSubmit: '+123456789', '世界您好！' →
    // 07914400000000F0 1100099121436587F90008F40A4E16754C60A8597DFF01 (their SMSC and VP F4).
    const auto parts = encode_submit("+123456789", "世界您好！", 0);
    ASSERT_EQ(parts.size(), 1u);
    EXPECT_EQ(parts[0].hex, with_our_validity("1100099121436587F90008F40A4E16754C60A8597DFF01"));
}

TEST(SmsPduSubmit, Concatenated7BitUserDataMatchesPythonGsmmodemVector) {
    // python-gsmmodem test/test_pdu.py, test_encodeSmsSubmit_concatenated: 439 septets to +15125551234,
    // reference 0 → three parts of 153/153/133 septets with UDH 050003000301.. and 1 fill bit. Their
    // first octet is 45 without VP (ours 51 with VP AA), so the comparison is from TP-UDL on.
    const std::string text =
        "Lorem ipsum dolor sit amet, consectetur adipisicing elit, sed do eiusmod tempor incididunt ut "
        "labore "
        "et dolore magna aliqua.Ut enim ad minim veniam, quinostrud exercitation ullamco laboris nisi ut "
        "aliquip ex ea commodo consequat.Duis aute irure dolor in reprehenderit in voluptate velit esse "
        "cillum doloe eu fugiat nulla pariatur.Excepteur sint occaecat cupidatat non proident, sunt in culpa "
        "qui officia deserunt mollit anim id est laborum";
    const std::vector<std::string> published = {
        "0045000B915121551532F40000A0050003000301986F79B90D4AC3E7F53688FC66BFE5A0799A0E0AB7CB741668FC76CFCB63"
        "7A"
        "995E9783C2E4343C3D4F8FD3EE33A8CC4ED359A079990C22BF41E5747DDE7E9341F4721BFE9683D2EE719A9C26D7DD74509D"
        "0E"
        "6287C56F791954A683C86FF65B5E06B5C36777181466A7E3F5B0AB4A0795DDE936284C06B5D3EE741B642FBBD3E1360B14AF"
        "A7"
        "DD",
        "0045000B915121551532F40000A0050003000302DE73BABC4E0695F165F9384D0FD3D36F37A8CE6687DBE337881D16BFE5E9"
        "39"
        "C89D9EA741753A28CC4EC7EB6938A88C0795C3A0F1BBDD7E93DFA0F1DB3D2FC7EB61BA8B584FCF41E13ABD0C4ACBEBF23288"
        "FC"
        "66BFE5A0B41B242FC3E56574D94D2ECBD37450DA0DB2BFD975383D4C2F83EC65769A0E2ACFE765D038CD66D7DB20F29BFD2E"
        "83"
        "CA",
        "0045000B915121551532F400008C050003000303EA2073FD9C0ED341EE3A9B1D06C1C3F274985E97BB8AF871194E2FD7E5A0"
        "79"
        "DA4D07BDC7E370791CA683C675789A1CA687E920F7DB0D82CBDF6972D94D6781E675371D947683C675363C0C8AD7D3A0B7D9"
        "9C"
        "1EA7C32072795E96D7DD7450FBCD66A7E9A0B03BDD06A5C9A0F29C0E6287C56F79BD0D"};
    const auto parts = encode_submit("+15125551234", text, 0);
    ASSERT_EQ(parts.size(), published.size());
    for (size_t i = 0; i < parts.size(); ++i) {
        EXPECT_EQ(user_data_hex(parts[i].hex), user_data_hex(published[i])) << "part " << i + 1;
        EXPECT_EQ(parts[i].hex.substr(0, 4), "0051") << "UDHI + VPF relative + SUBMIT";
    }
}

// --- SMS-SUBMIT: round trips and splitting ---

TEST(SmsPduSubmit, ChineseAlarmRoundTrip) {
    const std::string text = "【颐康照料中心】紧急呼叫：助浴间呼叫器（助浴间）14:03 报警 #12";
    const auto parts = encode_submit("+8613800000000", text, 7);
    ASSERT_EQ(parts.size(), 1u);
    const DecodedSubmit d = read_submit(parts[0].hex);
    EXPECT_EQ(d.smsc_len, 0);
    EXPECT_EQ(d.first, 0x11);
    EXPECT_EQ(d.mr, 0);
    EXPECT_EQ(d.to, "+8613800000000");
    EXPECT_EQ(d.dcs, 0x08);
    EXPECT_EQ(d.vp, 0xAA);
    EXPECT_EQ(d.udl, 72);
    EXPECT_FALSE(d.ref.has_value());
    EXPECT_EQ(d.text, text);
    EXPECT_EQ(d.tpdu_octets, static_cast<size_t>(parts[0].tpdu_length));
}

TEST(SmsPduSubmit, ThreeHundredChineseCharactersMakeFivePartsWithConsistentHeaders) {
    const std::string unit = "颐康照料中心紧急呼叫助浴";  // 12 characters, 3 UTF-8 bytes each
    const std::string text = repeat(unit, 25);
    ASSERT_EQ(text.size(), 300u * 3);
    const auto parts = encode_submit("13800000000", text, 0x5A);
    ASSERT_EQ(parts.size(), 5u);
    std::string joined;
    for (size_t i = 0; i < parts.size(); ++i) {
        const DecodedSubmit d = read_submit(parts[i].hex);
        EXPECT_EQ(d.first, 0x51) << i;
        EXPECT_EQ(d.to, "13800000000");
        EXPECT_EQ(d.dcs, 0x08);
        ASSERT_TRUE(d.ref.has_value());
        EXPECT_EQ(*d.ref, 0x5A);
        EXPECT_EQ(d.total, 5);
        EXPECT_EQ(d.seq, static_cast<int>(i + 1));
        EXPECT_EQ(d.units, i < 4 ? 67 : 300 - 4 * 67);
        EXPECT_LE(d.udl, 140);
        EXPECT_EQ(d.udl, 6 + 2 * d.units);
        EXPECT_EQ(d.tpdu_octets, static_cast<size_t>(parts[i].tpdu_length));
        joined += d.text;
    }
    EXPECT_EQ(joined, text);
}

TEST(SmsPduSubmit, SinglePartLimitsAre160SeptetsAnd70Units) {
    EXPECT_EQ(encode_submit("10086", repeat("a", 160), 0).size(), 1u);
    const auto two = encode_submit("10086", repeat("a", 161), 0);
    ASSERT_EQ(two.size(), 2u);
    EXPECT_EQ(read_submit(two[0].hex).units, 153);
    EXPECT_EQ(read_submit(two[0].hex).udl, 160);
    EXPECT_EQ(read_submit(two[1].hex).units, 8);
    EXPECT_EQ(read_submit(two[0].hex).text + read_submit(two[1].hex).text, repeat("a", 161));
    EXPECT_EQ(encode_submit("10086", repeat("中", 70), 0).size(), 1u);
    const auto cjk = encode_submit("10086", repeat("中", 71), 0);
    ASSERT_EQ(cjk.size(), 2u);
    EXPECT_EQ(read_submit(cjk[0].hex).units, 67);
    EXPECT_EQ(read_submit(cjk[1].hex).units, 4);
}

TEST(SmsPduSubmit, NeverSplitsASurrogatePair) {
    // 66 BMP characters, then emoji: the 67th unit of part 1 would be a high surrogate.
    const std::string text = repeat("中", 66) + repeat("🚨", 10);
    const auto parts = encode_submit("+8613800000000", text, 1);
    ASSERT_EQ(parts.size(), 2u);
    const DecodedSubmit a = read_submit(parts[0].hex);
    const DecodedSubmit b = read_submit(parts[1].hex);
    EXPECT_EQ(a.units, 66);
    EXPECT_EQ(b.units, 20);
    EXPECT_FALSE(a.lone_surrogate);
    EXPECT_FALSE(b.lone_surrogate);
    EXPECT_EQ(a.text + b.text, text);
}

TEST(SmsPduSubmit, GsmSpecialsStay7BitAndExtensionCharactersGoUcs2) {
    const DecodedSubmit g = read_submit(encode_submit("10086", "a@b$_é\n", 0)[0].hex);
    EXPECT_EQ(g.dcs, 0x00);
    EXPECT_EQ(g.text, "a@b$_é\n");
    const DecodedSubmit e = read_submit(encode_submit("10086", "5€ [x]", 0)[0].hex);
    EXPECT_EQ(e.dcs, 0x08);
    EXPECT_EQ(e.text, "5€ [x]");
}

TEST(SmsPduSubmit, RejectsBadInputNamingTheProblem) {
    auto message = [](const std::string& number, const std::string& text) -> std::string {
        try {
            encode_submit(number, text, 0);
        } catch (const std::invalid_argument& e) {
            return e.what();
        }
        return "accepted";
    };
    EXPECT_NE(message("", "x").find("empty"), std::string::npos);
    EXPECT_NE(message("+86-138", "x").find("non-digit"), std::string::npos);
    EXPECT_NE(message("138 0000", "x").find("non-digit"), std::string::npos);
    EXPECT_NE(message("+", "x").find("no digits"), std::string::npos);
    EXPECT_NE(message(repeat("1", 21), "x").find("20 digits"), std::string::npos);
    EXPECT_EQ(message(repeat("1", 20), "x"), "accepted");
    EXPECT_NE(message("10086", "\xC3\x28").find("UTF-8"), std::string::npos);          // bad continuation
    EXPECT_NE(message("10086", "ab\xE4\xB8").find("UTF-8"), std::string::npos);        // truncated
    EXPECT_NE(message("10086", "\xC0\xAF").find("UTF-8"), std::string::npos);          // overlong
    EXPECT_NE(message("10086", "\xED\xA0\x80").find("UTF-8"), std::string::npos);      // surrogate
    EXPECT_NE(message("10086", "\xF4\x90\x80\x80").find("UTF-8"), std::string::npos);  // > U+10FFFF
    EXPECT_NE(message("10086", repeat("中", 67 * 255 + 1)).find("too long"), std::string::npos);
}

// --- SMS-DELIVER: published vectors ---

TEST(SmsPduDeliver, HellohelloFromTheClassicExample) {
    // Same dreamfabric page ("SMS messages and the PDU format", mirrored at
    // https://www.luteus.biz/Download/LoriotPro_Doc/SMS_Manager_Documentation/R01-SMS_PDU_FR.htm):
    // SMSC +27381000015, sender 27838890001 (type C8: not international), "hellohello".
    const auto sms =
        decode_deliver("07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37");
    ASSERT_TRUE(sms.has_value());
    EXPECT_EQ(sms->from, "27838890001");
    EXPECT_EQ(sms->text, "hellohello");
}

TEST(SmsPduDeliver, PythonGsmmodemVectors) {
    // python-gsmmodem test/test_pdu.py, TestSmsPdu.test_decode (SMS-DELIVER entries).
    auto a = decode_deliver("06917228195339040B917228214365F700003130805120618005D4F29C2E03");
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->from, "+27821234567");
    EXPECT_EQ(a->text, "Test2");
    // The developershome.com AT-command tutorial's example, as that suite carries it.
    auto b = decode_deliver(
        "07915892000000F0040B915892214365F700007040213252242331493A283D0795C3F33C88FE06C9CB6132885EC6D341EDF2"
        "7C1E3E97E7207B3A0C0A5241E377BB1D7693E72E");
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(b->from, "+85291234567");
    EXPECT_EQ(b->text, "It is easy to read text messages via AT commands.");
    // Extension table ({ }) and é in the basic table.
    auto c = decode_deliver("06917228195339040B917228214365F70000313062315352800A800D8A5E98D337A910");
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->text, "@{tést}!");
    // Concatenated part (UDH 050003C30101) in 7-bit: the text starts after the fill bit.
    auto d = decode_deliver(
        "0591721891F1400781721881F800003160526104848059050003C30101916536FB1DCABEEB2074D85E064941B19CAB060319"
        "A5"
        "C522289C96D3D3ED32286C0FA7D96131BBEC024941B19CAB0603DDD36C36A88C87A7E565D0DB0D82C55EB0DB4B068BCD5C2"
        "0");
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(d->from, "2781188");
    EXPECT_EQ(d->text, "Hello!You have R 19.50 FREE airtime available. R 19.50 will expire on 01/07/2013. ");
}

TEST(SmsPduDeliver, ChineseUcs2FromPublishedTutorial) {
    // https://e-com-net.com/article/5337788.htm ("AT指令短信接收", from blog.csdn.net/hanmengaidudu):
    // +CMT: ,24 0891683108200205F0240D91683157121468F0000860800331220000044F60597D = "你好" from
    // +8613752141860.
    const auto sms = decode_deliver("0891683108200205F0240D91683157121468F0000860800331220000044F60597D");
    ASSERT_TRUE(sms.has_value());
    EXPECT_EQ(sms->from, "+8613752141860");
    EXPECT_EQ(sms->text, "你好");
}

TEST(SmsPduDeliver, SevenBitUserDataHeaderWithFillBits) {
    // UDL+UD from a worked example on alt.cellular.gsm (https://alt.cellular.gsm.narkive.com/GpcO5NkM):
    // 19 0A 22080B912143658709F1 80B2CBE17919242FC3D979 = reply-address IE, 13 header septets (3 fill bits),
    // then "Please reply". Wrapped here in a DELIVER header (UDHI set) with the dreamfabric sender/time.
    const auto sms = decode_deliver(
        "00440B916407281553F8000099309251619580"
        "190A22080B912143658709F180B2CBE17919242FC3D979");
    ASSERT_TRUE(sms.has_value());
    EXPECT_EQ(sms->from, "+46708251358");
    EXPECT_EQ(sms->text, "Please reply");
}

TEST(SmsPduDeliver, AlphanumericSender) {
    // Address field 0ED04669D0397C26A7 = "FRANCOIS" (python-gsmmodem TestSmsPduAddressFields), in a
    // DELIVER around the dreamfabric "hellohello" user data.
    const auto sms = decode_deliver("00040ED04669D0397C26A70000993092516195800AE8329BFD4697D9EC37");
    ASSERT_TRUE(sms.has_value());
    EXPECT_EQ(sms->from, "FRANCOIS");
    EXPECT_EQ(sms->text, "hellohello");
}

TEST(SmsPduDeliver, EightBitDataAndOtherPduTypes) {
    // python-gsmmodem's 8-bit vector is an SMS-SUBMIT: not a DELIVER, so nothing comes out of it...
    EXPECT_FALSE(
        decode_deliver("0591721891F101000B917228214365F700040C48656C6C6F20776F726C6421").has_value());
    // ...and its user data (DCS 04, "Hello world!") in a DELIVER header decodes.
    const auto sms = decode_deliver(
        "00040B917228214365F7000499309251619580"
        "0C48656C6C6F20776F726C6421");
    ASSERT_TRUE(sms.has_value());
    EXPECT_EQ(sms->text, "Hello world!");
    // Lower case and a trailing CR, as some modems print them, are fine.
    EXPECT_TRUE(
        decode_deliver("0891683108200205f0240d91683157121468f0000860800331220000044f60597d\r").has_value());
}

// --- SMS-DELIVER: hostile input ---

const std::vector<std::string> kDeliverVectors = {
    "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37",
    "0891683108200205F0240D91683157121468F0000860800331220000044F60597D",
    "0591721891F1400781721881F800003160526104848059050003C30101916536FB1DCABEEB2074D85E064941B19CAB060319A5"
    "C522289C96D3D3ED32286C0FA7D96131BBEC024941B19CAB0603DDD36C36A88C87A7E565D0DB0D82C55EB0DB4B068BCD5C20",
    "00440B916407281553F8000099309251619580190A22080B912143658709F180B2CBE17919242FC3D979",
};

TEST(SmsPduDeliver, EveryTruncationIsRejected) {
    for (const std::string& v : kDeliverVectors) {
        ASSERT_TRUE(decode_deliver(v).has_value()) << v;
        for (size_t n = 0; n < v.size(); ++n)
            EXPECT_FALSE(decode_deliver(v.substr(0, n)).has_value()) << n << " of " << v;
        EXPECT_FALSE(decode_deliver(v + "00").has_value()) << "trailing octet after " << v;
    }
}

TEST(SmsPduDeliver, MalformedFieldsAreRejected) {
    EXPECT_FALSE(decode_deliver("").has_value());
    EXPECT_FALSE(decode_deliver("ERROR").has_value());
    EXPECT_FALSE(decode_deliver("0G").has_value());
    EXPECT_FALSE(decode_deliver(repeat("00", 1000)).has_value());
    // SMSC length 0xFF.
    EXPECT_FALSE(decode_deliver("FF040BC87238880900F10000993092516195800AE8329BFD4697D9EC37").has_value());
    // Sender length 0xFF digits.
    EXPECT_FALSE(decode_deliver("0004FF917238880900F10000993092516195800AE8329BFD4697D9EC37").has_value());
    // UDL says 0xA1 septets (> 160).
    EXPECT_FALSE(decode_deliver("00040B916407281553F80000993092516195A1" + repeat("41", 141)).has_value());
    // UDHI with a header length beyond the user data.
    EXPECT_FALSE(decode_deliver("00440B916407281553F8000899309251619580"
                                "04"
                                "FF000000")
                     .has_value());
    // UDHI with an information element running past the header.
    EXPECT_FALSE(decode_deliver("00440B916407281553F8000899309251619580"
                                "06"
                                "050009030201")
                     .has_value());
    // UCS-2 with an odd octet count.
    EXPECT_FALSE(decode_deliver("00040B916407281553F8000899309251619580"
                                "03"
                                "4F6059")
                     .has_value());
    // Compressed text.
    EXPECT_FALSE(decode_deliver("00040B916407281553F8002099309251619580"
                                "01"
                                "41")
                     .has_value());
}

TEST(SmsPduDeliver, RandomAndMutatedInputNeverCrashesAndYieldsValidUtf8) {
    std::mt19937 rng(20240611);
    static const char kHexDigits[] = "0123456789ABCDEF";
    for (int round = 0; round < 20000; ++round) {
        std::string hex;
        if (round % 2 == 0) {
            hex = kDeliverVectors[static_cast<size_t>(round / 2) % kDeliverVectors.size()];
            const int flips = 1 + static_cast<int>(rng() % 4);
            for (int f = 0; f < flips; ++f) hex[rng() % hex.size()] = kHexDigits[rng() % 16];
        } else {
            const size_t n = 2 * (rng() % 180);
            for (size_t i = 0; i < n; ++i) hex += kHexDigits[rng() % 16];
        }
        const auto sms = decode_deliver(hex);
        if (sms) {
            ASSERT_TRUE(valid_utf8(sms->text)) << hex;
            ASSERT_TRUE(valid_utf8(sms->from)) << hex;
            ASSERT_LE(sms->text.size(), 160u * 4) << hex;
        }
    }
}

}  // namespace
}  // namespace caregate::notify
