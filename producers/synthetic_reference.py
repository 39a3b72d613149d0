"""Reference data of the synthetic Olist generator: the 27 states with their cities, zip
blocks, coordinates and phone area codes, and the product categories with their English names
and sales weights (shaped like the public Olist data set)."""

from __future__ import annotations

from dataclasses import dataclass

# --- geography -------------------------------------------------------------------------------

# "UF customer% seller% " then that state's cities, capital first, continued on indented lines:
# "city,zip5 start,zip5 span,lat,lng,weight,DDD" separated by ";".
_GEOGRAPHY = """
SP 41.98 59.70 sao paulo,01000,5000,-23.55,-46.63,37,11;campinas,13000,150,-22.91,-47.06,6,19
  guarulhos,07000,400,-23.46,-46.53,5,11;sao bernardo do campo,09600,250,-23.69,-46.56,4,11
  santos,11000,100,-23.96,-46.33,4,13;osasco,06000,300,-23.53,-46.79,3,11
  sao jose dos campos,12200,200,-23.18,-45.89,4,12;ribeirao preto,14000,115,-21.18,-47.81,3,16
  sorocaba,18000,110,-23.50,-47.46,3,15
RJ 12.92 5.50 rio de janeiro,20000,3800,-22.91,-43.17,55,21;niteroi,24000,400,-22.88,-43.10,9,21
  nova iguacu,26000,300,-22.76,-43.45,6,21;duque de caxias,25000,300,-22.79,-43.31,5,21
  petropolis,25600,200,-22.51,-43.18,4,24;campos dos goytacazes,28000,100,-21.75,-41.32,4,22
MG 11.70 7.90 belo horizonte,30000,2000,-19.92,-43.94,24,31;uberlandia,38400,100,-18.92,-48.28,6,34
  contagem,32000,200,-19.93,-44.05,5,31;juiz de fora,36000,100,-21.76,-43.35,6,32
  montes claros,39400,100,-16.73,-43.86,3,38
RS 5.50 4.20 porto alegre,90000,2000,-30.03,-51.23,30,51;caxias do sul,95000,100,-29.17,-51.18,8,54
  pelotas,96000,100,-31.77,-52.34,5,53;canoas,92000,450,-29.92,-51.18,6,51
  santa maria,97000,100,-29.69,-53.81,4,55
PR 5.07 11.30 curitiba,80000,2000,-25.43,-49.27,35,41;londrina,86000,100,-23.31,-51.16,9,43
  maringa,87000,100,-23.42,-51.94,7,44;ponta grossa,84000,100,-25.09,-50.16,5,42
  cascavel,85800,20,-24.96,-53.46,4,45;foz do iguacu,85850,20,-25.55,-54.59,3,45
SC 3.66 6.10 florianopolis,88000,100,-27.60,-48.55,20,48;joinville,89200,50,-26.30,-48.85,14,47
  blumenau,89000,100,-26.92,-49.07,11,47;itajai,88300,50,-26.91,-48.66,6,47
  chapeco,89800,20,-27.10,-52.62,5,49
BA 3.40 0.60 salvador,40000,2000,-12.97,-38.50,45,71;feira de santana,44000,100,-12.27,-38.97,9,75
  vitoria da conquista,45000,100,-14.86,-40.84,6,77;camacari,42800,50,-12.70,-38.32,5,71
DF 2.15 1.00 brasilia,70000,2000,-15.79,-47.88,80,61;taguatinga,72000,200,-15.83,-48.06,8,61
  gama,72400,100,-16.02,-48.06,5,61;sobradinho,73000,100,-15.65,-47.79,4,61
ES 2.04 0.70 vitoria,29000,100,-20.32,-40.34,30,27;vila velha,29100,30,-20.33,-40.29,28,27
  serra,29160,20,-20.13,-40.31,20,27;cariacica,29140,20,-20.26,-40.42,12,27
GO 2.03 1.30 goiania,74000,900,-16.68,-49.25,50,62
  aparecida de goiania,74900,100,-16.82,-49.24,10,62;anapolis,75000,150,-16.33,-48.95,8,62
  rio verde,75900,10,-17.80,-50.93,4,64
PE 1.66 0.30 recife,50000,3000,-8.05,-34.88,45,81
  jaboatao dos guararapes,54000,500,-8.11,-35.01,10,81;olinda,53000,150,-8.01,-34.86,8,81
  caruaru,55000,100,-8.28,-35.98,5,81;petrolina,56300,100,-9.39,-40.50,5,87
CE 1.34 0.40 fortaleza,60000,900,-3.73,-38.52,65,85;caucaia,61600,50,-3.74,-38.66,6,85
  juazeiro do norte,63000,50,-7.21,-39.32,5,88;sobral,62000,50,-3.69,-40.35,4,88
PA 0.98 0.05 belem,66000,900,-1.46,-48.50,50,91;ananindeua,67000,150,-1.37,-48.37,10,91
  santarem,68000,100,-2.44,-54.71,6,93;maraba,68500,20,-5.37,-49.12,5,94
MT 0.91 0.10 cuiaba,78000,100,-15.60,-56.10,40,65;varzea grande,78100,50,-15.65,-56.13,12,65
  rondonopolis,78700,50,-16.47,-54.64,8,66
MA 0.75 0.05 sao luis,65000,100,-2.53,-44.30,50,98;imperatriz,65900,20,-5.53,-47.49,12,99
MS 0.72 0.20 campo grande,79000,130,-20.44,-54.65,55,67;dourados,79800,50,-22.22,-54.81,10,67
  tres lagoas,79600,50,-20.75,-51.68,6,67
PB 0.54 0.20 joao pessoa,58000,100,-7.12,-34.86,50,83;campina grande,58400,50,-7.23,-35.88,20,83
PI 0.50 0.05 teresina,64000,100,-5.09,-42.80,60,86;parnaiba,64200,20,-2.91,-41.78,8,86
RN 0.49 0.20 natal,59000,160,-5.79,-35.21,60,84;mossoro,59600,50,-5.19,-37.34,12,84
AL 0.42 0.05 maceio,57000,100,-9.67,-35.74,65,82;arapiraca,57300,20,-9.75,-36.66,10,82
SE 0.35 0.05 aracaju,49000,100,-10.91,-37.07,65,79
  nossa senhora do socorro,49160,40,-10.85,-37.13,10,79
TO 0.28 0.02 palmas,77000,300,-10.18,-48.33,40,63;araguaina,77800,30,-7.19,-48.21,15,63
RO 0.25 0.10 porto velho,76800,50,-8.76,-63.90,45,69;ji-parana,76900,20,-10.88,-61.95,12,69
AM 0.15 0.05 manaus,69000,100,-3.12,-60.02,85,92;parintins,69150,5,-2.63,-56.74,4,92
AC 0.08 0.02 rio branco,69900,25,-9.97,-67.81,70,68;cruzeiro do sul,69980,5,-7.63,-72.67,8,68
AP 0.07 0.02 macapa,68900,15,0.03,-51.07,80,96;santana,68925,5,-0.06,-51.17,10,96
RR 0.05 0.02 boa vista,69300,40,2.82,-60.67,85,95;rorainopolis,69375,5,0.94,-60.44,4,95
"""


@dataclass(frozen=True)
class City:
    """A city with its own block of 5-digit zip prefixes, its centre and its phone area code."""

    name: str
    state: str
    zip_start: int
    zip_span: int
    lat: float
    lng: float
    weight: float
    ddd: int


@dataclass(frozen=True)
class State:
    """A federative unit: customer and seller shares (%) and its cities (capital first)."""

    uf: str
    customer_weight: float
    seller_weight: float
    cities: tuple[City, ...]


def _city(uf: str, item: str) -> City:
    name, start, span, lat, lng, weight, ddd = item.split(",")
    return City(name, uf, int(start), int(span), float(lat), float(lng), float(weight), int(ddd))


def _parse_geography(text: str) -> tuple[State, ...]:
    states: list[State] = []
    for line in text.strip().splitlines():
        if not line.startswith(" "):
            uf, customers, sellers, line = line.split(" ", 3)
            states.append(State(uf, float(customers), float(sellers), ()))
        last = states[-1]
        cities = last.cities + tuple(_city(last.uf, c) for c in line.strip().split(";"))
        states[-1] = State(last.uf, last.customer_weight, last.seller_weight, cities)
    return tuple(states)


STATES: tuple[State, ...] = _parse_geography(_GEOGRAPHY)


# --- products --------------------------------------------------------------------------------

# "portuguese english weight" (weight ~ hundreds of items sold in the public data), ";"-separated.
# The English names keep the published spellings (costruction, confort, fashio).
_CATEGORIES = """
cama_mesa_banho bed_bath_table 111;beleza_saude health_beauty 97;esporte_lazer sports_leisure 86
moveis_decoracao furniture_decor 83;informatica_acessorios computers_accessories 78
utilidades_domesticas housewares 70;relogios_presentes watches_gifts 60;telefonia telephony 45
ferramentas_jardim garden_tools 44;automotivo auto 42;brinquedos toys 41;cool_stuff cool_stuff 38
perfumaria perfumery 34;bebes baby 30;eletronicos electronics 28;papelaria stationery 25
fashion_bolsas_e_acessorios fashion_bags_accessories 20;pet_shop pet_shop 19
moveis_escritorio office_furniture 17;consoles_games consoles_games 11
malas_acessorios luggage_accessories 11
construcao_ferramentas_construcao construction_tools_construction 9
eletrodomesticos home_appliances 8;instrumentos_musicais musical_instruments 7
eletroportateis small_appliances 7;casa_construcao home_construction 6
livros_interesse_geral books_general_interest 5.5;alimentos food 5
moveis_sala furniture_living_room 5;casa_conforto home_confort 4.3;bebidas drinks 3.8
audio audio 3.6;market_place market_place 3.1
construcao_ferramentas_iluminacao construction_tools_lights 3;climatizacao air_conditioning 3
moveis_cozinha_area_de_servico_jantar_e_jardim kitchen_dining_laundry_garden_furniture 2.8
alimentos_bebidas food_drink 2.8;industria_comercio_e_negocios industry_commerce_and_business 2.7
livros_tecnicos books_technical 2.7;telefonia_fixa fixed_telephony 2.6
fashion_calcados fashion_shoes 2.6;eletrodomesticos_2 home_appliances_2 2.4
construcao_ferramentas_jardim costruction_tools_garden 2.4
agro_industria_e_comercio agro_industry_and_commerce 2.1;artes art 2.1;pcs computers 2
sinalizacao_e_seguranca signaling_and_security 2
construcao_ferramentas_seguranca construction_tools_safety 1.9
artigos_de_natal christmas_supplies 1.5;fashion_roupa_masculina fashion_male_clothing 1.3
fashion_underwear_e_moda_praia fashion_underwear_beach 1.3;moveis_quarto furniture_bedroom 1.1
construcao_ferramentas_ferramentas costruction_tools_tools 1;cine_foto cine_photo 0.7
tablets_impressao_imagem tablets_printing_image 0.8;dvds_blu_ray dvds_blu_ray 0.6
portateis_casa_forno_e_cafe small_appliances_home_oven_and_coffee 0.8
livros_importados books_imported 0.6;fashion_roupa_feminina fashio_female_clothing 0.5
artigos_de_festas party_supplies 0.4;musica music 0.4;fraldas_higiene diapers_and_hygiene 0.4
moveis_colchao_e_estofado furniture_mattress_and_upholstery 0.4;fashion_esporte fashion_sport 0.3
flores flowers 0.3;casa_conforto_2 home_comfort_2 0.3;artes_e_artesanato arts_and_craftmanship 0.2
la_cuisine la_cuisine 0.1;cds_dvds_musicais cds_dvds_musicals 0.1
fashion_roupa_infanto_juvenil fashion_childrens_clothes 0.1
seguros_e_servicos security_and_services 0.05
"""
CATEGORIES: tuple[tuple[str, str, float], ...] = tuple(
    (pt, en, float(weight))
    for line in _CATEGORIES.strip().splitlines()
    for pt, en, weight in (item.split() for item in line.split(";"))
)
