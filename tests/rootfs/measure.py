#!/usr/bin/python3
"""measure.py ADDRESS [edu]: the measurement service of vmrun's users in
miniature, run by the --rootfs tests in a Debian userland: pyvisa (with its
pure-Python backend) asks a LAN multimeter for readings over SCPI and writes
them to /job/out/readings.csv; with `edu`, the passed-through edu card's
driver computes 10! through an ioctl (/job/out/edu.txt)."""
import fcntl
import os
import struct
import sys

import pyvisa

EDU_IOC_FACT = 0xC0084502  # _IOWR('E', 2, struct edu_fact { u32 n, result; })

rm = pyvisa.ResourceManager("@py")
dmm = rm.open_resource("TCPIP0::%s::5025::SOCKET" % sys.argv[1],
                       read_termination="\n", write_termination="\n", timeout=20000)
idn = dmm.query("*IDN?").strip()
dmm.write("*RST")
dmm.write("CONF:VOLT:DC 10")
dmm.write("SAMP:COUN 5")
readings = [float(x) for x in dmm.query("READ?").split(",")]
dmm.write("BOGUS")
err = dmm.query("SYST:ERR?").strip()
dmm.close()
os.makedirs("/job/out", exist_ok=True)
with open("/job/out/readings.csv", "w") as f:
    f.write("idn,%s\n" % idn)
    for i, r in enumerate(readings):
        f.write("%d,%.4f\n" % (i, r))
    f.write("error,%s\n" % err)
if len(sys.argv) > 2 and sys.argv[2] == "edu":
    fd = os.open("/dev/edu", os.O_RDWR)
    buf = bytearray(struct.pack("II", 10, 0))
    fcntl.ioctl(fd, EDU_IOC_FACT, buf)
    os.close(fd)
    with open("/job/out/edu.txt", "w") as f:
        f.write("fact(%d)=%d\n" % struct.unpack("II", buf))
print("measured %d readings with %s" % (len(readings), pyvisa.__name__ + " " + pyvisa.__version__))
