#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Writes the C++ block between <!-- example:begin --> and <!-- example:end --> in README.md to a
# file, so the test suite compiles and runs exactly what a newcomer reads.
import re
import sys

text = open(sys.argv[1], encoding="utf-8").read()
m = re.search(r"<!-- example:begin -->\s*```cpp\n(.*?)```\s*<!-- example:end -->", text, re.S)
if not m:
    sys.exit("README.md has no <!-- example:begin --> ... <!-- example:end --> C++ block")
open(sys.argv[2], "w", encoding="utf-8").write(m.group(1))
