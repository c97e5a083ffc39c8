#include "vision/blas_threads.hpp"

#include <dlfcn.h>

namespace caregate::vision {

bool use_one_blas_thread() {
    // Looked up, not linked: /usr/lib/x86_64-linux-gnu/libblas.so.3 is whichever BLAS the machine's
    // alternatives name, and only OpenBLAS has a pool to set.
    using SetThreads = void (*)(int);
    auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
    if (!set) return false;
    set(1);
    return true;
}

}  // namespace caregate::vision
