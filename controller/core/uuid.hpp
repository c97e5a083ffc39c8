// Random (v4) UUIDs: the ids of records and of the messages that report them.
#pragma once
#include <string>
namespace caregate {
std::string new_uuid();
}
