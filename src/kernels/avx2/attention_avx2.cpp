// The attention block kernel compiled with AVX2 and FMA (cmake/kernels.cmake sets the flags).
#include "kernels/attention_detail.h"

namespace pensieve::kernels::detail {

namespace attention_avx2 {
#include "kernels/attention_block.inl"
}  // namespace attention_avx2

AttentionTaskFn avx2_attention_task() { return &attention_avx2::attention_task; }

}  // namespace pensieve::kernels::detail
