"""COCO JSON and CVAT XML ("CVAT for images 1.1") of an export's FINAL label maps.

Each labelled frame is one image (``patients/<id>/frames/<zone>/<frame:05d>.png`` in the export). Each
connected region of a class becomes one polygon (its outer contour, ``cv2.findContours``; holes are not
represented: the PNG label maps are the exact labels, these two files are for tools that want polygons).
Categories are the mask classes 1-4 (``lusapp.core.labels.CLASS_NAMES``), COCO ids = label values.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import cv2
import numpy as np

from lusapp.core.labels import CLASS_NAMES, DRAW_ORDER


def polygons(mask: np.ndarray) -> list[dict]:
    """[{label, points: [[x, y], ...], area (pixels of the region), bbox [x, y, w, h]}] of a label map."""
    out = []
    for label in DRAW_ORDER:
        binary = (mask == label).astype(np.uint8)
        if not binary.any():
            continue
        n, comps, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
        for k in range(1, n):
            region = (comps == k).astype(np.uint8)
            contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            if not contours:
                continue
            c = max(contours, key=len).reshape(-1, 2)
            if len(c) < 3:  # a one- or two-pixel region: its box as the polygon
                x, y, w, h = (int(v) for v in stats[k, :4])
                c = np.array([[x, y], [x + w - 1, y], [x + w - 1, y + h - 1], [x, y + h - 1]])
            x, y, w, h = (int(v) for v in stats[k, :4])
            out.append({"label": int(label), "points": c.astype(int).tolist(),
                        "area": int(stats[k, cv2.CC_STAT_AREA]), "bbox": [x, y, w, h]})
    return out


def coco_document(images: list[dict], info: dict) -> dict:
    """``images``: [{file, width, height, patient_id, zone_id, frame, regions: polygons(mask)}]."""
    doc = {"info": info, "licenses": [],
           "categories": [{"id": i, "name": CLASS_NAMES[i], "supercategory": "lung_ultrasound"}
                          for i in range(1, len(CLASS_NAMES))],
           "images": [], "annotations": []}
    ann_id = 1
    for img_id, im in enumerate(images, start=1):
        doc["images"].append({"id": img_id, "file_name": im["file"], "width": im["width"], "height": im["height"],
                              "patient_id": im["patient_id"], "zone_id": im["zone_id"], "frame": im["frame"]})
        for r in im["regions"]:
            doc["annotations"].append({"id": ann_id, "image_id": img_id, "category_id": r["label"],
                                       "segmentation": [[float(v) for xy in r["points"] for v in xy]],
                                       "area": float(r["area"]), "bbox": [float(v) for v in r["bbox"]],
                                       "iscrowd": 0})
            ann_id += 1
    return doc


def cvat_xml(images: list[dict], name: str) -> bytes:
    """CVAT for images 1.1 XML of the same images and polygons (z_order follows the app's draw order)."""
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    task = ET.SubElement(ET.SubElement(root, "meta"), "task")
    ET.SubElement(task, "name").text = name
    ET.SubElement(task, "size").text = str(len(images))
    labels = ET.SubElement(task, "labels")
    for i in range(1, len(CLASS_NAMES)):
        lab = ET.SubElement(labels, "label")
        ET.SubElement(lab, "name").text = CLASS_NAMES[i]
        ET.SubElement(lab, "type").text = "polygon"
        ET.SubElement(lab, "attributes")
    for img_id, im in enumerate(images):
        el = ET.SubElement(root, "image", id=str(img_id), name=im["file"], width=str(im["width"]),
                           height=str(im["height"]))
        for r in im["regions"]:
            ET.SubElement(el, "polygon", label=CLASS_NAMES[r["label"]], source="manual", occluded="0",
                          points=";".join(f"{x:.2f},{y:.2f}" for x, y in r["points"]),
                          z_order=str(DRAW_ORDER.index(r["label"])))
    ET.indent(root)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8")
