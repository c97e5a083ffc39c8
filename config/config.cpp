#include "config/config.hpp"
namespace caregate::config {}
