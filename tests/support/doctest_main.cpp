// SPDX-License-Identifier: Apache-2.0
// tests/support/doctest_main.cpp — the doctest runner shared by every test executable.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
