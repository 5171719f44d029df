// SPDX-License-Identifier: Apache-2.0
// tracecraft/macros.h — compiler attributes shared by the public headers.
#pragma once

#if defined(__GNUC__)
#define TC_LIKELY(x) __builtin_expect(!!(x), 1)
#define TC_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define TC_API __attribute__((visibility("default")))
#define TC_TLS_IE __attribute__((tls_model("initial-exec")))
#define TC_ALWAYS_INLINE inline __attribute__((always_inline))
#define TC_NOINLINE_COLD __attribute__((noinline, cold))
#else
#define TC_NOINLINE_COLD
#define TC_LIKELY(x) (x)
#define TC_UNLIKELY(x) (x)
#define TC_API
#define TC_TLS_IE
#define TC_ALWAYS_INLINE inline
#endif
