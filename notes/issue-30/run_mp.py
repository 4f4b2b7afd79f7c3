import sys, numpy as np
from mediapipe.tasks.python import vision
from mediapipe.tasks.python.core.base_options import BaseOptions
import mediapipe as mp
from PIL import Image
model, image = sys.argv[1], sys.argv[2]
try:
    opts = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=model), max_results=3)
    with vision.ImageClassifier.create_from_options(opts) as clf:
        r = clf.classify(mp.Image.create_from_file(image))
        cats = [(c.index, c.category_name, round(c.score, 6)) for c in r.classifications[0].categories]
        print(model, image, "head:", r.classifications[0].head_name, cats)
except Exception as e:
    print(model, image, "ERROR", type(e).__name__, str(e).replace("\n", " | ")[:1500])
