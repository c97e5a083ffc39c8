// dlib's networks (the CNN detector, the ResNet model) multiply through BLAS, OpenBLAS on Debian.
// Its own thread pool, started when the library loads, would spin on both cores of a small box
// beside the camera threads (issue #19: a face thread found spinning in OpenBLAS). The daemon and
// the benchmarks that measure it run BLAS on the calling thread only.
#pragma once

namespace caregate::vision {

// Sets OpenBLAS to one thread when OpenBLAS is the loaded BLAS; returns whether it was.
bool use_one_blas_thread();

}  // namespace caregate::vision
