#!/usr/bin/python3
"""An independent Modbus TCP call-point gateway for benchmarks (pymodbus, Debian's python3-pymodbus):
N units (unit ids 1..N), each with one call input at discrete input 0.

Prints "port <n>" once listening (it binds port 0 on 127.0.0.1). Reads commands on stdin:
  press <unit>    sets the unit's input; prints "pressed <unit> <CLOCK_REALTIME ns>" just after
  release <unit>  clears it; prints "released <unit>"
so the benchmark measures from the moment the input is set, on a clock both processes share.
"""
import asyncio
import sys
import time

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.server.async_io import ModbusTcpServer


def main():
    units = int(sys.argv[1]) if len(sys.argv) > 1 else 24
    slaves = {
        u: ModbusSlaveContext(di=ModbusSequentialDataBlock(0, [0] * 16), co=ModbusSequentialDataBlock(0, [0] * 16),
                              hr=ModbusSequentialDataBlock(0, [0] * 16), ir=ModbusSequentialDataBlock(0, [0] * 16),
                              zero_mode=True)
        for u in range(1, units + 1)
    }
    context = ModbusServerContext(slaves=slaves, single=False)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = ModbusTcpServer(context, address=("127.0.0.1", 0), loop=loop)
    task = loop.create_task(server.serve_forever())
    loop.run_until_complete(server.serving)
    print("port", server.server.sockets[0].getsockname()[1], flush=True)

    def on_stdin():
        line = sys.stdin.readline()
        if not line:
            loop.stop()
            return
        words = line.split()
        if len(words) != 2 or words[0] not in ("press", "release"):
            print("error: expected 'press <unit>' or 'release <unit>'", flush=True)
            return
        unit = int(words[1])
        context[unit].setValues(2, 0, [1 if words[0] == "press" else 0])
        if words[0] == "press":
            print("pressed", unit, time.clock_gettime_ns(time.CLOCK_REALTIME), flush=True)
        else:
            print("released", unit, flush=True)

    loop.add_reader(sys.stdin.fileno(), on_stdin)
    loop.run_forever()
    task.cancel()


if __name__ == "__main__":
    main()
