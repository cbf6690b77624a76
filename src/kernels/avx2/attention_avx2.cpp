// The attention block kernel compiled with AVX2, FMA and F16C (cmake/kernels.cmake sets the flags).
#include <immintrin.h>

#include "kernels/attention_detail.h"

namespace pensieve::kernels::detail {

namespace attention_avx2 {
#include "kernels/attention_block.inl"
}  // namespace attention_avx2

AttentionTaskFn avx2_attention_task() { return &attention_avx2::attention_task; }

}  // namespace pensieve::kernels::detail
