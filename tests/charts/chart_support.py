"""Reading a chart back: its SVG parsed, marks by class, pixels turned back into values."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

NS = "{http://www.w3.org/2000/svg}"


@dataclass
class Drawn:
    """A parsed chart and the value each pixel stands for (from the plot area's domains)."""

    root: ET.Element

    @classmethod
    def of(cls, svg: str) -> Drawn:
        return cls(ET.fromstring(svg))

    def marks(self, kind: str, tag: str = "*") -> list[ET.Element]:
        return [
            e
            for e in self.root.iter()
            if e.get("class") == kind and (tag == "*" or e.tag == NS + tag)
        ]

    def texts(self, kind: str) -> list[str]:
        return ["".join(e.itertext()) for e in self.marks(kind)]

    @property
    def area(self) -> ET.Element:
        [area] = self.marks("plot-area")
        return area

    def x_value(self, pixel: float) -> float:
        lo, hi = map(float, self.area.get("data-x-domain", "").split())
        left, width = float(self.area.get("x", 0)), float(self.area.get("width", 0))
        return lo + (pixel - left) / width * (hi - lo)

    def y_value(self, pixel: float) -> float:
        lo, hi = map(float, self.area.get("data-y-domain", "").split())
        top, height = float(self.area.get("y", 0)), float(self.area.get("height", 0))
        return lo + (top + height - pixel) / height * (hi - lo)


def f(element: ET.Element, name: str) -> float:
    return float(element.get(name, "nan"))
