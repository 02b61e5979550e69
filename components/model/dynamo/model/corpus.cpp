#include "dynamo/model/corpus.hpp"

namespace dynamo::model {

namespace {

// Written for this project. Sections are separate literals joined by the compiler.
constexpr std::string_view corpus =
  R"corpus(The Lighthouse Keeper's Notebook

Monday. The wind came around to the north before dawn, and by seven the sea had turned the
colour of wet slate. I climbed the one hundred and twelve steps to the lamp room, wiped the
salt from the glass, and wrote down the pressure: 1012 hectopascals and falling. A fishing
boat passed close to the rocks at half past eight. Its captain waved, and I waved back, the
way we always do, although neither of us has ever heard the other's voice.

Tuesday. Rain all day. I repaired the hinge on the storeroom door and counted the tins on the
shelf: forty-one tins of beans, nineteen of peaches, seven of sardines, and one mysterious tin
with no label at all. I have decided to keep that one for a special occasion. In the evening
I read two chapters of a book about the history of maps. The author argues that every map is
a kind of promise: it tells you that the world will still be there when you arrive.

Wednesday. Clear skies at last. From the gallery I could see the whole curve of the bay, the
white houses of the village, and the long grey line of the breakwater. Gulls argued over a
crab on the slipway. A little girl on the beach was building a castle with four towers and a
moat, and every wave that reached the moat made her shout with delight.

Thursday. The supply boat arrived two hours late because of engine trouble. The skipper, a
quiet man called Tomas, handed me a crate of apples, a new radio battery, three letters and a
newspaper that was already a week old. "Nothing much has happened," he said, "except that the
price of diesel went up again." I gave him a cup of tea and he told me about his daughter, who
is studying marine biology and wants to count the seals on the northern islands.

Friday. Fog. The foghorn sounded every thirty seconds from noon until midnight. When the fog
is thick the world shrinks to the size of the tower, and the only proof that anything else
exists is the sound of the bell buoy, far away and patient, ringing whenever the swell lifts it.

)corpus"
  R"corpus(How Bread Rises

Bread is a small miracle of chemistry and patience. Flour contains starch and two families of
proteins that, when mixed with water and kneaded, link together into a stretchy network called
gluten. Yeast, a single-celled fungus, eats the simple sugars in the dough and releases carbon
dioxide and a little alcohol. The gas is trapped in the gluten network, and the dough swells
like a balloon.

A basic loaf needs only four ingredients: 500 grams of strong flour, 350 millilitres of warm
water, 10 grams of salt and 7 grams of dried yeast. Mix them, knead for ten minutes, and leave
the dough covered in a warm place for about an hour, until it has doubled in size. Shape it,
let it rise again for forty minutes, and bake it at 220 degrees Celsius for thirty-five
minutes. The loaf is done when it sounds hollow if you tap the bottom.

Bakers in different countries have invented thousands of variations. There is the crusty
French baguette, the soft Japanese milk bread, the dense rye bread of Scandinavia, the flat
naan baked against the wall of a clay oven, and the sweet brioche enriched with butter and
eggs. A pastry chef in a café might finish the day with a crème brûlée, a slice of tarte
tatin, or a plate of churros dusted with sugar. Some people add a jalapeño to cornbread;
others prefer honey and walnuts. Whatever you choose, the first slice of a warm loaf is one of
the simple pleasures of life. 🍞

)corpus"
  R"corpus(A Short Conversation About the Stars

User: Why do stars twinkle?
Assistant: Stars twinkle because their light passes through Earth's atmosphere, which is full
of moving layers of air at different temperatures. Each layer bends the light slightly, so the
point of light seems to jump and flicker. Planets twinkle less because they look like tiny
discs rather than points.
User: Could I see a planet tonight?
Assistant: Very likely. Venus is often the brightest object in the evening sky after the Moon,
and Jupiter is easy to spot as a steady, cream-coloured light. A pair of binoculars will even
show Jupiter's four largest moons as little dots in a line.
User: How far away is Jupiter?
Assistant: It depends on where both planets are in their orbits, but the distance ranges from
about 588 million to 968 million kilometres. Light takes between 33 and 54 minutes to travel
that far.
User: That's amazing. Thank you!
Assistant: You're welcome. Clear skies and happy stargazing! ✨

)corpus"
  R"corpus(Notes on Learning to Program

The first program most people write prints a greeting. In Python it is a single line:

    print("Hello, world!")

In C it takes a few more:

    #include <stdio.h>
    int main(void) {
        printf("Hello, world!\n");
        return 0;
    }

What matters is not the language but the habit of thinking in small steps. A program is a
recipe: take this input, transform it, produce that output. When something goes wrong, read
the error message slowly. It usually tells you the file, the line number and what the computer
expected to find. For example, "line 14: expected ';' before 'return'" means exactly what it
says.

Here is a function that adds up a list of numbers:

    def total(values):
        result = 0
        for value in values:
            result += value
        return result

    total([3, 1, 4, 1, 5, 9, 2, 6])  # returns 31

And here is the same idea in JavaScript:

    const total = (values) => values.reduce((sum, v) => sum + v, 0);
    console.log(total([2, 7, 1, 8, 2, 8]));  // 28

Good programmers write tests. A test is a tiny program that checks another program:

    assert total([]) == 0
    assert total([10]) == 10
    assert total([-1, 1]) == 0

Other useful habits: give variables clear names such as user_count or max_retries instead of
x and y; keep functions short; commit your work often with messages like "fix: handle empty
input in parse_config()"; and never store passwords in source code. A configuration file might
look like this:

    {"host": "127.0.0.1", "port": 8080, "debug": false, "workers": 4}

or, in YAML:

    server:
      host: 127.0.0.1
      port: 8080
    logging:
      level: info

)corpus"
  R"corpus(The Market in the Square

Every Saturday morning the square in front of the old town hall fills with stalls. By six
o'clock the farmers have unloaded their vans, and by seven the first customers arrive with
baskets and canvas bags. There is a stall that sells only potatoes, nine varieties of them,
each labelled in careful handwriting: waxy, floury, early, late, red-skinned, purple, and one
called "grandmother's favourite". Next to it an old man sells honey in jars of three sizes,
and a young woman sells cheese made from the milk of her own goats.

The fishmonger shouts his prices in a voice that carries across the whole square. "Mackerel,
three for five euros! Fresh this morning!" A child asks whether the fish are still alive, and
he laughs and says that they were, until very recently. Further along, a florist arranges
sunflowers and dahlias in metal buckets, and a baker hands out samples of a dark, seeded loaf.

At ten the musicians arrive: a violinist, a man with an accordion, and a girl who plays the
flute. They play waltzes and folk songs, and an elderly couple dances slowly near the fountain.
By one o'clock the stalls are packed away, the street sweepers have cleared the last cabbage
leaves, and the square is quiet again, as if nothing had happened at all.

)corpus"
  R"corpus(Numbers, Dates and Measurements

The meeting is scheduled for 14 March 2025 at 09:30, in room 4B on the second floor.
Please bring the quarterly report (pages 1-48) and the budget sheet for Q3.
The train leaves at 17:45 from platform 6 and arrives at 21:10; a return ticket costs 64.50.
The recipe serves 4 people and takes 1 hour 15 minutes. Preheat the oven to 180 °C (356 °F).
A marathon is 42.195 kilometres long, roughly 26.2 miles.
Mount Everest is 8,849 metres tall; the Mariana Trench is about 10,935 metres deep.
Water boils at 100 degrees Celsius at sea level and freezes at 0.
The speed of light in a vacuum is 299,792,458 metres per second.
There are 365 days in a common year, 366 in a leap year, 52 weeks and 1 or 2 extra days.
One kilobyte is 1,024 bytes; one mebibyte is 1,048,576 bytes.
The ratio of a circle's circumference to its diameter, pi, begins 3.14159265358979.
Euler's number e begins 2.71828182845904, and the square root of 2 is about 1.41421356.
Order #10293 shipped on 2024-11-02; tracking number ZX-4417-0093-AB.
Temperature readings: 12.5, 13.1, 14.8, 16.0, 15.2, 11.9, 9.7 (degrees, hourly).
Scores: Alice 87, Bob 92, Chen 78, Dara 95, Emeka 88, Freya 91.
2 + 2 = 4, 7 x 8 = 56, 144 / 12 = 12, 2^10 = 1024, 15% of 200 is 30.
Call us at +1 (555) 010-2368 between 8 a.m. and 6 p.m., Monday to Friday.

)corpus"
  R"corpus(Why Leaves Change Colour

In summer the leaves of a maple tree are green because they are full of chlorophyll, the
pigment that captures sunlight and turns water and carbon dioxide into sugar. Chlorophyll is
constantly broken down and rebuilt. As the days grow shorter and the nights colder, the tree
stops making new chlorophyll, and the green fades. Yellow and orange pigments called
carotenoids, which were there all along, become visible. Some trees also produce red and
purple pigments, anthocyanins, from sugars trapped in the leaf. The brightest autumns come
after a summer with plenty of rain followed by sunny days and cool, but not freezing, nights.

Eventually a layer of cells at the base of each leaf stalk seals the leaf off from the
branch. The leaf falls, and the tree rests through the winter, its buds wrapped tightly
against the cold, waiting for spring.

)corpus"
  R"corpus(Travel Diary: A Week of Trains

Day one: Lisbon. Yellow trams climb impossibly steep streets, and the smell of grilled sardines
drifts from every corner. I ate a pastel de nata that was still warm from the oven.
Day two: Madrid. The night train arrived at dawn. In the museum I stood for twenty minutes in
front of a single painting and still did not see everything in it.
Day three: Barcelona. The façade of the basilica looks like something grown rather than built.
A street performer made a piñata shaped like a dragon for a birthday party in the park.
Day four: Lyon. Two rivers, a hill with a church on top, and the best lunch of the trip.
Day five: Zürich. Everything runs on time. The lake was so clear I could see the stones on the
bottom from the pier.
Day six: München. A brass band played in a beer garden while it rained, and nobody minded.
Day seven: Kraków, via a long afternoon train through forests and small towns. In the evening
a quartet played Dvořák in a candlelit church, and I decided that this had been the best week
of my year. Next time: Malmö, Göteborg and perhaps São Paulo, if I ever save enough money.

Words I learned along the way: obrigado, gracias, merci, danke, dziękuję. The word "naïve"
keeps its two dots in careful English, and so does "coöperate" in old magazines. A résumé is
a summary of your work; a café is where you write it. 🚆🌍

)corpus"
  R"corpus(A Fable: The Tortoise Who Collected Questions

Once there was a tortoise who collected questions the way other animals collect nuts. She kept
them in her shell, written on small flat stones. Why is the sky blue in the day and black at
night? Where does the river go after it leaves the valley? Why do owls sleep when everyone else
is awake?

One day a young fox asked her why she never looked for the answers. "Because," said the
tortoise, "a good question is like a seed. If you plant it and wait, it grows into something
bigger than any answer." The fox thought this was nonsense and ran off to catch mice.

Years later the fox, now grey around the muzzle, came back. "I have caught a great many mice,"
he said, "and I am bored. Lend me one of your questions." The tortoise gave him the stone about
the river. The fox followed the river for a whole summer, through forests and towns and
marshes, until he reached the sea. When he came home he had more stories than anyone in the
valley, and he never was bored again.

)corpus"
  R"corpus(Questions and Answers

Q: What is the capital of France?
A: Paris.
Q: How many legs does a spider have?
A: Eight.
Q: What is the largest ocean on Earth?
A: The Pacific Ocean.
Q: Who wrote the first computer program?
A: Ada Lovelace is often credited with writing the first published algorithm intended for a
machine, in 1843.
Q: What gas do plants absorb from the air?
A: Carbon dioxide.
Q: Which planet has the shortest year?
A: Mercury, which orbits the Sun in about 88 days.
Q: What is the boiling point of water in Fahrenheit?
A: 212 degrees at sea level.
Q: How do you say "thank you" in Japanese?
A: Arigatō (ありがとう).

<|im_start|>system
You are a helpful assistant.<|im_end|>
<|im_start|>user
Can you suggest a name for a grey kitten?<|im_end|>
<|im_start|>assistant
How about Pebble, Smoky, Ash or Misty? If the kitten is playful, Comet might suit it too.<|im_end|>
<|im_start|>user
I like Pebble. Thanks!<|im_end|>
<|im_start|>assistant
Pebble is a lovely choice. I hope you two have many happy years together! 🐱<|im_end|>

)corpus"
  R"corpus(On Rivers

A river is never the same river twice. The water you see today has come from rain that fell
weeks ago on distant hills, and it will reach the sea long after you have gone home. Rivers
carve valleys, carry sand and silt, and build deltas where they meet the ocean. Along their
banks people have built mills, bridges, harbours and whole cities.

The longest rivers in the world are the Nile and the Amazon, each more than 6,000 kilometres
long. The Amazon carries more water than any other river, about a fifth of all the fresh water
that flows into the oceans. Smaller rivers matter just as much to the creatures that live in
them: trout and salmon, otters and herons, dragonflies and water beetles, and the tiny
invisible plankton at the bottom of every food chain.

When a river floods, it can destroy houses and fields, but it also spreads fertile soil across
the plain. Farmers in many ancient civilisations planned their whole year around the flood,
planting seeds in the rich mud as soon as the water went down.

)corpus"
  R"corpus(Workshop Safety Checklist

1. Wear safety glasses whenever a machine is running.
2. Tie back long hair and remove rings, watches and loose sleeves.
3. Check that every blade is sharp; a dull blade needs more force and slips more easily.
4. Clamp the workpiece. Never hold small parts by hand near a spinning tool.
5. Keep the floor clear of offcuts, cables and sawdust.
6. Know where the first aid kit and the fire extinguisher are.
7. Switch off and unplug a machine before changing a blade or a bit.
8. Never work alone with heavy equipment.
9. Clean up at the end of the day and put every tool back where it belongs.
10. If you are unsure how to do something safely, stop and ask. ✅

)corpus"
  R"corpus(Letters Between Two Friends

Dear Maya,
It has been far too long since I wrote. The new job is going well, although the office is so
cold that I wear a scarf at my desk. I have started learning the cello, which means the
neighbours have started learning patience. How is the garden? Did the tomatoes survive the hail?
Write soon,
Jonas

Dear Jonas,
The tomatoes survived, the beans did not, and the pumpkins have taken over half the lawn. I
think they are planning to invade the shed next. I am glad the job is good. Send me a recording
of your cello once you can play a whole tune; I promise to be kind. We should meet in the
spring, perhaps halfway, in that little town with the blue bridge and the bakery that sells
cinnamon buns as big as your head.
Love,
Maya

)corpus"
  R"corpus(Small Facts About Everyday Things

A teaspoon of honey represents the life's work of about a dozen bees.
Bananas are berries, botanically speaking, but strawberries are not.
Octopuses have three hearts and blue blood.
A group of flamingos is called a flamboyance.
The dot over a lowercase i or j is called a tittle.
Glass is made mostly from sand, soda ash and limestone melted together at high temperature.
The oldest known recipe is for beer, written on a clay tablet thousands of years ago.
Honeycomb cells are hexagons because that shape uses the least wax to hold the most honey.
Your nose can remember a very large number of different smells.
Lightning is about five times hotter than the surface of the Sun, but only for a moment.
Sloths can hold their breath longer than dolphins can.
The Eiffel Tower grows a few centimetres taller in summer as the metal expands.

Some words from other languages have no single English equivalent: the German "Fernweh", a
longing for faraway places; the Japanese "木漏れ日" (komorebi), sunlight filtering through
leaves; the Welsh "hiraeth", a homesickness for a place you cannot return to; the Greek
"μεράκι" (meraki), putting your soul into your work; and the Russian "тоска" (toska), a deep
and restless sadness. In Korean, "정" (jeong) describes a warm bond that grows slowly over time.

)corpus"
  R"corpus(The Repair Café

On the first Sunday of every month, volunteers open a repair café in the community hall.
People bring broken toasters, lamps, bicycles, jumpers with holes, and radios that have not
spoken for years. A retired electrician named Oksana sits at the first table with her
soldering iron and a magnifying lamp. "Most things are not really broken," she says. "They are
just waiting for someone to look inside." Last month she fixed a clock that had belonged to a
visitor's great-grandfather. When it began to tick again, the owner cried, and so did half the
room.

At the next table, a teenager teaches people to patch bicycle tyres: find the hole by
listening for the hiss or by dipping the tube in water, roughen the rubber, apply the glue,
wait a minute, press on the patch. At the sewing table, two sisters darn socks and replace
zips with astonishing speed. Coffee is free, cake costs one coin, and nobody leaves without
learning something. The café has repaired more than 2,000 objects since it opened, and every
repair is written in a big notebook by the door, with the date and a short description:
"kettle, loose wire, fixed", "teddy bear, lost eye, new button", "laptop, sticky key, cleaned".

)corpus"
  R"corpus(A Conversation About Sleep

User: How much sleep do adults need?
Assistant: Most adults do best with seven to nine hours a night, although the exact amount
varies from person to person. Teenagers usually need a little more.
User: Why do I wake up tired even after eight hours?
Assistant: There can be several reasons. An irregular schedule, caffeine late in the day, a
bright screen before bed, a warm or noisy bedroom, or interrupted breathing can all reduce the
quality of sleep. If you are often tired despite enough time in bed, it is worth talking to a
doctor.
User: Any simple tips?
Assistant: Go to bed and get up at the same time every day, keep the bedroom cool, dark and
quiet, avoid heavy meals and caffeine in the evening, and spend some time outdoors in daylight.
A short wind-down routine, such as reading a paper book, helps many people fall asleep faster.
User: Great, I'll try that tonight. 😴
Assistant: Good luck, and sleep well!

)corpus"
  R"corpus(Log Lines and Data

2025-01-17T08:15:02Z INFO server started on port 8080 with 4 workers
2025-01-17T08:15:09Z INFO request id=7f3a path=/v1/items status=200 duration_ms=12
2025-01-17T08:15:11Z WARN cache miss ratio 0.37 above threshold 0.30
2025-01-17T08:16:45Z ERROR database timeout after 5000 ms (attempt 2 of 3)
2025-01-17T08:16:47Z INFO retry succeeded; rows=128

name,age,city,score
Ana,34,Porto,8.5
Ben,29,Leeds,7.25
Chiara,41,Bologna,9.0
Dmitri,23,Tallinn,6.75

SELECT name, city FROM users WHERE score > 7 ORDER BY name;
git commit -m "docs: explain how to run the tests"
curl -s http://localhost:8080/health | jq .status
for i in range(10): print(i * i, end=" ")
if (count == 0) { return -1; } else { return total / count; }
x = [n for n in range(100) if n % 7 == 0]
let area = |w: f64, h: f64| w * h;

)corpus"
  R"corpus(The Night Shift

At the hospital the corridors are quiet after midnight, but they are never empty. A nurse
pushes a trolley of medicines from room to room, checking names and doses against a chart. In
the small kitchen a young doctor eats cold pasta standing up, because sitting down would make
her fall asleep. A porter whistles softly as he wheels an empty bed to the lift. Outside, an
ambulance turns off its siren as it reaches the gate, and its blue light sweeps across the car
park.

Patients sleep, or try to. An old man in bed nine cannot, so the nurse sits with him for five
minutes and asks about his life. He was a bus driver for forty years, he says, and he knew
every street in the city. He remembers the day the new bridge opened and the winter the river
froze. When she leaves, he is smiling, and soon after that he is asleep.

At six the sky begins to lighten. The day staff arrive with coffee and questions, the night
staff hand over their notes, and the building fills again with voices and footsteps. On the
way home the young doctor buys a croissant and watches the sunrise from the bus window. 🌅

)corpus"
  R"corpus(Simple Rules for Clear Writing

Use short words when they do the job. Prefer "use" to "utilise" and "help" to "facilitate".
Put the main point first. Readers are busy, and many will stop after the first paragraph.
Write one idea per sentence, and one topic per paragraph.
Use the active voice: "The committee approved the plan" is clearer than "The plan was
approved by the committee."
Cut words that add nothing: "in order to" becomes "to"; "at this point in time" becomes "now".
Read your text aloud. If you run out of breath, the sentence is too long.
Finally, ask a friend to read it. If they have to ask what you meant, rewrite it.

The end of the corpus. Thank you for reading, and good luck with your model! 🎉🚀
)corpus";

} // namespace

std::string_view training_corpus() noexcept {
  return corpus;
}

} // namespace dynamo::model
