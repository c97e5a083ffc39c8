#!/usr/bin/env python3
"""Writes the seed corpus of fuzz/modbus_reply_fuzz.cpp into fuzz/corpus/modbus_reply/.

The bus of the fuzz target polls, per cycle and in this order (devices/modbus_poller.cpp plan()):
  unit 1 FC02 0+8   di_room: call, cord_pulled, cancel, fall, smoke, gas, presence, tamper
  unit 2 FC04 15+1  door_thermo: temperature x 0.1
  unit 3 FC03 0+7   door_counter: counter_in, counter_out, energy_kwh (s32 x 0.01), reg 4 bit 3
                    water_leak, voltage_v (f32 at 5..6)
  unit 4 FC01 0+1   siren: output read back
  unit 5 FC03 0+2   fire_detector (model acrel_arcm300): residual_current_ma u16, cable_temp_c s16
  unit 6 FC04 0+8, 52+2, 72+2   meter (model threephase_meter): voltage, current, power, energy f32
Line mode input: [flags][len][how][unit + PDU]... with how=1 (the harness adds the MBAP header with
the request's transaction id, or the RTU CRC) or how=0 (bytes as given).
"""
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "corpus", "modbus_reply")


def f32(x):
    return struct.pack(">f", x)


def regs(*values):
    return b"".join(struct.pack(">H", v & 0xFFFF) for v in values)


def cycle(inputs=0x00, temp=365, count_in=10, count_out=4, energy=123456, reg4=0, volts=230.0,
          coil=0, residual=50, cable=25, meter=(229.5, 3.2, 650.0, 1234.5)):
    """The eight replies of one cycle as (unit, PDU)."""
    e = energy & 0xFFFFFFFF
    return [
        (1, bytes([0x02, 1, inputs])),
        (2, bytes([0x04, 2]) + regs(temp)),
        (3, bytes([0x03, 14]) + regs(count_in, count_out, e >> 16, e) + regs(reg4) + f32(volts)),
        (4, bytes([0x01, 1, coil])),
        (5, bytes([0x03, 4]) + regs(residual, cable)),
        (6, bytes([0x04, 16]) + f32(meter[0]) + regs(0, 0, 0, 0) + f32(meter[1])),
        (6, bytes([0x04, 4]) + f32(meter[2])),
        (6, bytes([0x04, 4]) + f32(meter[3])),
    ]


def framed(replies):
    """Line-mode chunks, each framed by the harness."""
    b = b""
    for unit, pdu in replies:
        body = bytes([unit]) + pdu
        b += bytes([len(body), 1]) + body
    return b


def raw(data):
    return bytes([len(data), 0]) + data


def crc16(data):
    crc = 0xFFFF
    for x in data:
        crc ^= x
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


seeds = {}
quiet, pressed = cycle(), cycle(inputs=0b0101_0001, temp=372, count_in=13, count_out=5, reg4=0b1000,
                              volts=251.0, coil=1, residual=420, cable=75)
for flag, name in ((0, "tcp"), (1, "rtu")):
    # Three cycles: quiet, then a call, a fall... seen twice (confirmed after the debounce).
    seeds[f"{name}_valid_3_cycles"] = bytes([flag]) + framed(quiet + pressed + pressed)
    # Unit 3 answers "illegal data address" (exception 2): next cycle its points are read one by one.
    exc = cycle()
    exc[2] = (3, bytes([0x83, 0x02]))
    seeds[f"{name}_exception_reply"] = bytes([flag]) + framed(exc + cycle())
    # A unit id that is not the one asked (RTU: libmodbus refuses it; TCP 3.1.6 does not check it).
    wrong = cycle()
    wrong[0] = (9, wrong[0][1])
    seeds[f"{name}_wrong_unit"] = bytes([flag]) + framed(wrong)
    # One stale extra reply first: every later reply answers the request before it.
    seeds[f"{name}_stale_extra_reply"] = bytes([flag]) + framed([quiet[0]] + quiet + quiet)
    # Registers mode: a conforming slave with tables from these bytes.
    seeds[f"{name}_registers"] = bytes([flag | 2]) + bytes(range(256))

# A short frame: the first reply stops after 4 bytes, then the stream ends.
seeds["tcp_short_frame"] = bytes([0]) + raw(bytes([0, 1, 0, 0]))
seeds["rtu_short_frame"] = bytes([1]) + raw(bytes([1, 0x02]))
# A whole MBAP frame with transaction id 9 where 1 was asked, then valid replies numbered from 2.
pdu = bytes([1, 0x02, 1, 0x01])
seeds["tcp_wrong_transaction_id"] = bytes([0]) + raw(bytes([0, 9, 0, 0, 0, len(pdu)]) + pdu) + framed(quiet[1:])
# A bad CRC on the first RTU reply.
frame = bytes([1, 0x02, 1, 0x01])
c = crc16(frame) ^ 0x0101
seeds["rtu_bad_crc"] = bytes([1]) + raw(frame + bytes([c & 0xFF, c >> 8])) + framed(quiet[1:])
# A byte count that disagrees with the request (FC03 of 7 registers answered with 8).
bad = cycle()
bad[2] = (3, bytes([0x03, 16]) + regs(*range(8)))
seeds["tcp_wrong_byte_count"] = bytes([0]) + framed(bad)

os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
print(f"{len(seeds)} seeds in {out}")
