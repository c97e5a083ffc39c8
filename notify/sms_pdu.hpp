// SMS PDUs for the modem path (3GPP TS 23.040 transfer layer, TS 23.038 alphabets): SMS-SUBMIT out
// to the duty phone, SMS-DELIVER in (replies such as "1"). PDU mode rather than text mode because
// text mode cannot carry Chinese reliably across modem firmwares (+CSCS support varies).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace caregate::notify {

struct SubmitPdu {
    std::string hex;      // "00" (use the SMSC stored in the SIM) + the TPDU, upper-case hex
    int tpdu_length = 0;  // octets after the SMSC part: the <n> of AT+CMGS=<n>
};

// One PDU per part. number: "+8613800000000" (international) or national digits. The text goes as
// GSM 7-bit when every character is in the default alphabet's basic table, else as UCS-2; longer
// texts become concatenated parts (8-bit reference UDH with concat_ref). Relative validity 4 days.
// Throws std::invalid_argument naming the problem: empty number, a non-digit, more than 20 digits,
// invalid UTF-8, more than 255 parts.
std::vector<SubmitPdu> encode_submit(const std::string& number, const std::string& utf8_text,
                                     uint8_t concat_ref);

struct IncomingSms {
    std::string from;  // "+8613800000000", national digits, or an alphanumeric sender
    std::string text;  // UTF-8; one part of a concatenated message is returned as it is
};

// An SMS-DELIVER PDU with its SMSC prefix, as AT+CMGL / AT+CMGR return it in PDU mode. The input comes
// from hardware, so anything malformed, truncated, over-long or of another PDU type is nullopt.
std::optional<IncomingSms> decode_deliver(const std::string& hex);

}  // namespace caregate::notify
