// std::visit over a variant with one lambda per alternative.
#pragma once

namespace dsvm {

template <class... Ts>
struct Overloaded : Ts... {
    using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

}  // namespace dsvm
