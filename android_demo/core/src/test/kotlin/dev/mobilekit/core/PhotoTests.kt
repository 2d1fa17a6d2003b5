package dev.mobilekit.core

// Decoding gallery photos (PhotoSize) and turning them upright (Orientation).

private fun image(width: Int, height: Int) =
    RgbImage(width, height, ByteArray(width * height * 3) { (it / 3).toByte() }) // pixel i holds i

/** The stored photo for each EXIF orientation, made from the upright one by the tag's definition. */
private fun stored(code: Int, upright: RgbImage): RgbImage {
    val w = upright.width
    val h = upright.height
    // (stored width, stored height, the upright pixel stored at (x, y)); EXIF names where the stored
    // 0th row and 0th column sit in the upright picture
    val (sw, sh, source) = when (code) {
        2 -> Triple(w, h) { x: Int, y: Int -> (w - 1 - x) to y } // mirrored
        3 -> Triple(w, h) { x: Int, y: Int -> (w - 1 - x) to (h - 1 - y) } // upside down
        4 -> Triple(w, h) { x: Int, y: Int -> x to (h - 1 - y) } // flipped top to bottom
        5 -> Triple(h, w) { x: Int, y: Int -> y to x } // transposed
        6 -> Triple(h, w) { x: Int, y: Int -> (w - 1 - y) to x } // 0th row the right side, 0th column the top
        7 -> Triple(h, w) { x: Int, y: Int -> (w - 1 - y) to (h - 1 - x) } // transverse
        8 -> Triple(h, w) { x: Int, y: Int -> y to (h - 1 - x) } // 0th row the left side, 0th column the bottom
        else -> Triple(w, h) { x: Int, y: Int -> x to y }
    }
    val rgb = ByteArray(upright.pixels.size)
    for (y in 0 until sh) for (x in 0 until sw) {
        val (u, v) = source(x, y)
        upright.pixels.copyInto(rgb, (y * sw + x) * 3, (v * w + u) * 3, (v * w + u) * 3 + 3)
    }
    return RgbImage(sw, sh, rgb)
}

fun photoTests(t: TestRunner) {
    t.test("photo size: a 50 MP portrait shrinks to the screen, aspect kept, under the draw limit") {
        val target = PhotoSize.target(PixelSize(6144, 8192), displaySide = 2400, modelSide = 224)
        checkEqual(PixelSize(1800, 2400), target, "target")
        check(target.argbBytes <= PhotoSize.MAX_DRAWN_BYTES) { "bytes ${target.argbBytes}" }
        checkEqual(2, PhotoSize.sampleSize(PixelSize(6144, 8192), target), "inSampleSize: 3072x4096 >= target, 1536 < 1800")
    }
    t.test("photo size: a panorama keeps the model's side on its short edge") {
        val target = PhotoSize.target(PixelSize(20000, 1000), displaySide = 2400, modelSide = 224)
        checkEqual(PixelSize(4480, 224), target, "short side 224, not 120")
        checkEqual(4, PhotoSize.sampleSize(PixelSize(20000, 1000), target), "5000x250 >= 4480x224")
    }
    t.test("photo size: the draw limit wins over the model's side") {
        val target = PhotoSize.target(PixelSize(100_000, 100_000), displaySide = 100_000, modelSide = 100_000)
        check(target.argbBytes <= PhotoSize.MAX_DRAWN_BYTES) { "bytes ${target.argbBytes} for $target" }
        check(target.width == target.height && target.width > 5000) { "$target" }
    }
    t.test("photo size: a small photo is never scaled up") {
        checkEqual(PixelSize(100, 80), PhotoSize.target(PixelSize(100, 80), displaySide = 2400, modelSide = 224), "size")
        checkEqual(1, PhotoSize.sampleSize(PixelSize(100, 80), PixelSize(100, 80)), "inSampleSize")
        checkThrows<IllegalArgumentException>("a 0-pixel side") { PixelSize(0, 10) }
    }
    t.test("orientation: every EXIF value turns its stored photo upright") {
        val upright = image(3, 2)
        for (code in 1..8) {
            val orientation = Orientation.fromExif(code)
            val turned = orientation.apply(stored(code, upright))
            checkEqual(upright.width to upright.height, turned.width to turned.height, "size, EXIF $code")
            check(upright.pixels.contentEquals(turned.pixels)) { "pixels, EXIF $code ($orientation)" }
        }
        checkEqual(Orientation.UPRIGHT, Orientation.fromExif(0), "missing tag")
        checkEqual(Orientation(90, false), Orientation.fromExif(6), "a portrait from a phone held upright")
    }
}
