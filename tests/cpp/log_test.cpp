#include <gtest/gtest.h>

#include "common/error.h"
#include "common/log.h"

TEST(Log, ParsesLevelNames) {
  EXPECT_EQ(pensieve::log::parse_level("warn"), pensieve::log::Level::warn);
  EXPECT_EQ(pensieve::log::parse_level("off"), pensieve::log::Level::off);
  EXPECT_THROW(pensieve::log::parse_level("loud"), pensieve::Error);
}
