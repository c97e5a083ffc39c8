// The .deb: built by cpack, unpacked with dpkg -x, checked for what a site needs.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/support/test_support.hpp"

using namespace caregate::testing;
namespace fs = std::filesystem;

TEST(Package, DebContainsBinaryUnitAndExamples) {
    TempDir dir;
    std::string out;
    ASSERT_EQ(run(std::string("cd ") + CAREGATE_BUILD_DIR + " && cpack -G DEB -B " + dir.path(), &out), 0)
        << out;
    std::string deb;
    for (auto& e : fs::directory_iterator(dir.path()))
        if (e.path().extension() == ".deb") deb = e.path().string();
    ASSERT_FALSE(deb.empty()) << out;
    ASSERT_EQ(run("dpkg -x " + deb + " " + dir.file("root"), &out), 0) << out;
    for (auto f : {"usr/bin/caregate", "usr/lib/systemd/system/caregate.service",
                   "usr/lib/tmpfiles.d/caregate.conf", "usr/share/caregate/examples/demo.yaml",
                   "usr/share/caregate/examples/center.yaml", "usr/share/caregate/examples/wuchang.yaml",
                   "usr/share/doc/caregate/config.md", "usr/share/caregate/models/MobileFaceNet.tflite",
                   "usr/share/caregate/models/mmod_human_face_detector.dat",
                   "usr/share/doc/caregate/copyright", "usr/share/doc/caregate/changelog.gz",
                   "usr/share/doc/caregate/face-accuracy.md", "usr/share/caregate/devices/ts0215a_sos.yaml",
                   "usr/share/caregate/devices/z2m_smoke.yaml", "usr/share/caregate/devices/README.md"})
        EXPECT_TRUE(fs::exists(dir.file("root/") + f)) << f;
    // Debian's own checker finds no errors (warnings, such as the missing manual page, are listed).
    ASSERT_EQ(run("command -v lintian", &out), 0) << "lintian missing: run scripts/setup";
    EXPECT_EQ(run("lintian --fail-on error --allow-root " + deb, &out), 0) << out;
    // The packaged binary recognises a face with the packaged model: a box needs no npm or network.
    ASSERT_EQ(run(dir.file("root/usr/bin/caregate") + " face embed --model " +
                      dir.file("root/usr/share/caregate/models/MobileFaceNet.tflite") + " " +
                      test_data_dir() + "/faces/obama_1.jpg",
                  &out),
              0)
        << out;
    auto line = nlohmann::json::parse(out.substr(out.find('{')), nullptr, false);
    ASSERT_FALSE(line.is_discarded()) << out;
    EXPECT_EQ(line["descriptor"].size(), 192u) << out;
    EXPECT_EQ(run(dir.file("root/usr/bin/caregate") + " version", &out), 0) << out;
    ASSERT_EQ(run("dpkg-deb -I " + deb, &out), 0);
    EXPECT_NE(out.find("Package: caregate"), std::string::npos) << out;
    EXPECT_NE(out.find("postinst"), std::string::npos) << out;
    std::string unit = read_file(dir.file("root/usr/lib/systemd/system/caregate.service"));
    for (auto k :
         {"Type=notify", "WatchdogSec=", "Restart=on-failure", "User=caregate", "StateDirectory=caregate",
          "ProtectSystem=strict", "NoNewPrivileges=yes", "LoadCredential="})
        EXPECT_NE(unit.find(k), std::string::npos) << k;
}

TEST(Package, SystemdUnitVerifies) {
    std::string out;
    ASSERT_EQ(run("command -v systemd-analyze", &out), 0) << "systemd-analyze not found: run scripts/setup";
    // verify wants ExecStart to exist: point a copy of the unit at the built binary.
    TempDir dir;
    std::string unit = read_file(source_dir() + "/systemd/caregate.service");
    for (std::string from : {"/usr/bin/caregate"}) {
        size_t pos;
        while ((pos = unit.find(from)) != std::string::npos) unit.replace(pos, from.size(), caregate_bin());
    }
    write_file(dir.file("caregate.service"), unit);
    int rc = run("systemd-analyze verify --man=no " + dir.file("caregate.service"), &out);
    // Unknown users and missing credentials on a dev machine are warnings; syntax errors fail.
    EXPECT_EQ(out.find("Unknown key"), std::string::npos) << out;
    EXPECT_EQ(out.find("Invalid"), std::string::npos) << out;
    EXPECT_EQ(out.find("Failed to parse"), std::string::npos) << out;
    (void)rc;
    // systemd's own exposure score of the unit's sandboxing (0 best, 10 worst), offline: 1.9 "OK"
    // on 2026-12-07; a change that weakens the unit past 2.5 fails here.
    rc = run("systemd-analyze security --offline=true --threshold=25 " + dir.file("caregate.service"), &out);
    EXPECT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("Overall exposure level for caregate.service"), std::string::npos) << out;
}
